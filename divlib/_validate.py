"""Checks at divlib's public boundary: each names the argument, what it got, and the fix."""

import math
from dataclasses import dataclass, fields
from functools import cache
from types import UnionType
from typing import Annotated, Literal, Union, get_args, get_origin, get_type_hints

import torch

from divlib.errors import DivlibError
from divlib.similarity import ItemDistance


def check_tensor(name: str, value: torch.Tensor) -> None:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(value).__name__}")


def check_scores(scores: torch.Tensor) -> None:
    check_tensor("scores", scores)
    if scores.dim() != 2 or scores.shape[1] == 0:
        raise DivlibError(
            f"scores must have shape (B, m) with m >= 1 (one row per user); got {tuple(scores.shape)}"
        )
    if not scores.is_floating_point():
        raise TypeError(f"scores must be a float tensor; got {scores.dtype}")
    if not _finite(scores):
        rows = (~torch.isfinite(scores)).any(dim=1).nonzero().flatten()
        raise DivlibError(
            f"scores contain NaN or Inf in {rows.numel()} row(s) (first: row {rows[0].item()}); "
            "check the model output (a diverged run?) before ranking"
        )


def check_finite(name: str, values: torch.Tensor, fix: str) -> None:
    """``values`` hold no NaN or Inf; else one line: how many, the first one's index, and ``fix``."""
    if not _finite(values):
        bad = (~torch.isfinite(values)).nonzero()
        count = f"{bad.shape[0]} entr{'y' if bad.shape[0] == 1 else 'ies'}"
        raise DivlibError(
            f"{name} contains NaN or Inf in {count} (first: {tuple(bad[0].tolist())}); {fix}"
        )


def _finite(values: torch.Tensor) -> bool:
    """No NaN or Inf: one pass (a NaN or Inf makes the sum non-finite), a second if the sum overflows."""
    return bool(torch.isfinite(values.detach().sum())) or bool(torch.isfinite(values).all())


def check_exclude(exclude: torch.Tensor, scores: torch.Tensor) -> None:
    if not isinstance(exclude, torch.Tensor) or exclude.dtype != torch.bool:
        raise TypeError("exclude must be a bool tensor of the shape of scores")
    if exclude.shape != scores.shape or exclude.device != scores.device:
        raise DivlibError(
            f"exclude must match scores in shape and device; got {tuple(exclude.shape)} on "
            f"{exclude.device} for scores {tuple(scores.shape)} on {scores.device}"
        )


def check_candidates(exclude: torch.Tensor, needed: int) -> None:
    available = (~exclude).sum(dim=1)  # (B,)
    short = (available < needed).nonzero().flatten()
    if short.numel():
        row = short[0].item()
        raise DivlibError(
            f"{short.numel()} user row(s) have fewer than {needed} items that are not excluded "
            f"(first: row {row} with {available[row].item()}); drop such users or lower k"
        )


def check_distance(distance: ItemDistance, scores: torch.Tensor) -> None:
    """``distance`` covers the ``m`` items of the ``(B, m)`` scores, one column per item."""
    if distance.n_items != scores.shape[1]:
        raise DivlibError(
            f"distance covers {distance.n_items} items but scores have {scores.shape[1]} columns "
            "(one per item); build both from the same catalogue"
        )


def check_number(name: str, value: float) -> float:
    """``value`` is a finite int or float (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DivlibError(f"{name} must be a finite number; got {value!r}")
    return float(value)


def check_count(name: str, value: int, upper: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DivlibError(f"{name} must be an int >= 1; got {value!r}")
    if upper is not None and value > upper:
        raise DivlibError(f"{name} = {value} exceeds the {upper} items per row; lower {name}")


def check_positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise DivlibError(f"{name} must be a number > 0; got {value!r}")
    if value == float("inf"):
        raise DivlibError(f"{name} must be finite; got {value!r}")
    return float(value)


def check_range(name: str, value, low: float, high: float | None = None, *, closed: bool = True):
    """``value`` must be a number in [low, high] (or > low when ``closed`` is False)."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    ok = ok and (value >= low if closed else value > low) and (high is None or value <= high)
    if not ok:
        bounds = f"[{low}, {high}]" if high is not None else (f">= {low}" if closed else f"> {low}")
        raise DivlibError(f"{name} must be a number {bounds}; got {value!r}")


def check_relevance(relevance: torch.Tensor, k: int) -> None:
    """relevance (B, N) finite float; 1 <= k <= N."""
    if not isinstance(relevance, torch.Tensor) or not relevance.is_floating_point():
        raise TypeError("relevance must be a float torch.Tensor")
    if relevance.dim() != 2 or relevance.shape[1] == 0:
        raise DivlibError(
            f"relevance must have shape (B, N) with N >= 1 candidates; got {tuple(relevance.shape)}"
        )
    check_finite("relevance", relevance, "check the model output before re-ranking")
    n = relevance.shape[1]
    check_count("k", k, None)
    if k > n:
        raise DivlibError(
            f"k = {k} exceeds the N = {n} candidates per user; lower k or pass a pool of at least "
            f"k candidates (candidate_pool(..., n=k) or more)"
        )


def check_pool_similarity(similarity: torch.Tensor, relevance: torch.Tensor) -> None:
    """similarity (B, N, N) on the device of relevance (B, N), finite."""
    check_tensor("similarity", similarity)
    shape = (*relevance.shape, relevance.shape[1])
    if similarity.shape != shape or similarity.device != relevance.device:
        raise DivlibError(
            f"similarity must have shape {shape} on {relevance.device} to go with relevance; got "
            f"{tuple(similarity.shape)} on {similarity.device}; pass 1 - distance.block(items)"
        )
    check_finite(
        "similarity", similarity, "build it as 1 - distance.block(items) of a finite distance"
    )


def check_pool_categories(categories: torch.Tensor, relevance: torch.Tensor) -> None:
    """categories (B, N, C >= 1) bool on the device of relevance (B, N)."""
    if not isinstance(categories, torch.Tensor) or categories.dtype != torch.bool:
        found = (
            categories.dtype if isinstance(categories, torch.Tensor) else type(categories).__name__
        )
        raise TypeError(f"categories must be a bool tensor; got {found}")
    if categories.dim() != 3 or categories.shape[:2] != relevance.shape or categories.shape[2] == 0:
        raise DivlibError(
            f"categories must have shape ({', '.join(map(str, relevance.shape))}, C) with C >= 1 to "
            "go with relevance; "
            f"got {tuple(categories.shape)}; pass the candidates' rows of the item × category "
            "matrix, categories[items] > 0"
        )
    if categories.device != relevance.device:
        raise DivlibError(
            f"categories are on {categories.device} but relevance on {relevance.device}; "
            "move them with categories.to(relevance.device)"
        )


def check_catalogue(
    ratings: torch.Tensor, similarity: torch.Tensor, exclude: torch.Tensor, k: int
) -> None:
    """ratings (B, m) finite float; similarity (m, m) and exclude (B, m) bool on its device; each row has
    at least k >= 1 candidates."""
    check_scores(ratings)
    m = ratings.shape[1]
    check_tensor("similarity", similarity)
    if similarity.shape != (m, m) or similarity.device != ratings.device:
        raise DivlibError(
            f"similarity must be the ({m}, {m}) item matrix on {ratings.device} to go with ratings "
            f"{tuple(ratings.shape)}; got {tuple(similarity.shape)} on {similarity.device}"
        )
    check_finite("similarity", similarity, "build it as 1 - distance.dense() of a finite distance")
    check_exclude(exclude, ratings)
    check_count("k", k, m)
    check_candidates(exclude, k)


def check_items(
    exclude: torch.Tensor, distance: ItemDistance, categories: torch.Tensor | None = None
) -> None:
    """exclude (n_users, m); distance over the same m items; categories (m, C >= 1), finite."""
    if not isinstance(exclude, torch.Tensor) or exclude.dim() != 2:
        raise TypeError("exclude must be an (n_users, m) bool tensor")
    m = exclude.shape[1]
    if distance.n_items != m:
        raise DivlibError(
            f"distance covers {distance.n_items} items but exclude has {m} (one column per item); "
            "load both from the same prepared dataset"
        )
    if categories is None:
        return
    check_tensor("categories", categories)
    if categories.dim() != 2 or categories.shape[0] != m or categories.shape[1] == 0:
        raise DivlibError(
            f"categories must be the ({m}, C) item × category matrix with C >= 1; got "
            f"{tuple(categories.shape)}; load it from the same prepared dataset as exclude"
        )
    check_finite("categories", categories, "rebuild the item × category matrix")


@dataclass(frozen=True)
class Range:
    """Bounds of a number in an option field's annotation (``Annotated[float, Range(gt=0)]``): at
    least ``ge`` or above ``gt``, and at most ``le`` or below ``lt``. :func:`check_fields` enforces them, and the
    study's params schema is built from them (:mod:`divlib.study.params`): each is written once."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def holds(self, value: float) -> bool:
        low = value >= self.ge if self.gt is None else value > self.gt
        high = (self.le is None or value <= self.le) and (self.lt is None or value < self.lt)
        return low and high

    def __str__(self) -> str:
        """``>= 1``, ``> 0``, ``in [0, 1]``, ``in [0, 1)``."""
        if self.le is None and self.lt is None:
            return f">= {self.ge}" if self.gt is None else f"> {self.gt}"
        low = f"[{self.ge}" if self.gt is None else f"({self.gt}"
        high = f"{self.le}]" if self.lt is None else f"{self.lt})"
        return f"in {low}, {high}"


Count = Annotated[int, Range(ge=1)]
ListLength = Annotated[int, Range(ge=2)]  # k of a pairwise diversity: at least one pair
Positive = Annotated[float, Range(gt=0)]
NonNegative = Annotated[float, Range(ge=0)]
Fraction = Annotated[float, Range(ge=0, le=1)]


def check_fields(options: object) -> None:
    """Each field of the dataclass ``options`` holds what its annotation allows: a name its
    ``Literal`` lists, None where the annotation admits it, an int (not a bool) for ``int``, a
    finite int or float for ``float``, within the field's :class:`Range`; else one line naming the
    field, what it allows and what it got."""
    for name, annotation in _field_types(type(options)).items():
        value = getattr(options, name)
        union = get_origin(annotation) in (Union, UnionType)
        choices = get_args(annotation) if union else [annotation]
        if not any(_allows(choice, value) for choice in choices):
            allowed = [_describe(choice) for choice in choices]
            allowed = ", ".join(allowed[:-1]) + " or " * (len(allowed) > 1) + allowed[-1]
            raise DivlibError(f"{name} must be {allowed}; got {value!r}")


def check_window(top_m: object, k: int) -> None:
    """A window of ``top_m`` best items (an int) must hold more than the ``k`` of the list."""
    if isinstance(top_m, int) and not isinstance(top_m, bool) and top_m <= k:
        raise DivlibError(
            f'top_m = {top_m} must exceed k = {k}; raise top_m, or make it "auto" or None'
        )


@cache
def _field_types(options: type) -> dict[str, object]:
    """The annotation of each field of the dataclass type ``options``, ``Annotated`` bounds kept."""
    hints = get_type_hints(options, include_extras=True)
    return {field.name: hints[field.name] for field in fields(options)}


def _allows(annotation: object, value: object) -> bool:
    base, ranges = _split(annotation)
    if get_origin(base) is Literal:
        return value in get_args(base)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if base is int:
        ok = number and isinstance(value, int)
    elif base is float:
        ok = number and math.isfinite(value)
    else:
        ok = isinstance(value, base)
    return ok and all(bound.holds(value) for bound in ranges)


def _describe(annotation: object) -> str:
    """``an int >= 1``, ``a number in [0, 1]``, ``one of last, best``, ``'auto'``, ``None``."""
    base, ranges = _split(annotation)
    if get_origin(base) is Literal:
        names = get_args(base)
        return repr(names[0]) if len(names) == 1 else f"one of {', '.join(map(str, names))}"
    kind = {int: "an int", float: "a number", type(None): "None"}.get(base, base.__name__)
    return " ".join([kind, *map(str, ranges)])


def _split(annotation: object) -> tuple[object, list[Range]]:
    """``Annotated[int, Range(ge=1)]`` as ``(int, [Range(ge=1)])``; a bare type with no ranges."""
    if get_origin(annotation) is not Annotated:
        return annotation, []
    base, *extras = get_args(annotation)
    return base, [extra for extra in extras if isinstance(extra, Range)]
