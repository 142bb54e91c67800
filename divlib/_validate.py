"""Checks at divlib's public boundary: each names the argument, what it got, and the fix."""

import torch

from divlib.errors import DivlibError


def check_scores(scores: torch.Tensor) -> None:
    if not isinstance(scores, torch.Tensor):
        raise TypeError(f"scores must be a torch.Tensor; got {type(scores).__name__}")
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
