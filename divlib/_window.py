r"""The soft top-k over each row's M best items, and a per-row certificate that it is exact.

With "l2" the soft rank (eq. 7) is a pool-adjacent-violators (PAV) solution, and the soft ranks of the M
best items depend on the rest only if a PAV block straddles position M. Then, in units of ε, with g the gap
between the M-th and (M+1)-th best scores, z̃_M the window's soft rank of its M-th item and d_t the
distance of the (M+1+t)-th best item below the (M+1)-th best, the block boundary holds iff

.. math:: S(n) = \sum_{t<n} (d_t - t) + c\,n > 0 \quad \text{for every } n \ge 1,
          \qquad c = g + \tilde z_M - (M + 1) - \text{margin}.

S(n) is read exactly over the next P = 3M items; one pass counting the rest by distance band bounds it
beyond (it certifies nearly every row that is in fact exact). On a certified row the items outside the
window have soft ranks >= M + 1, so the membership (eq. 8) left out is below
``(m − M)·σ((k + offset − M − 1)/τ)``.
"""

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch

from divlib.errors import DivlibError
from divlib.ranking import push_excluded_below, soft_rank, topk_membership

KNOWN_PER_WINDOW = 4
"""The window certificate reads the best ``4·M`` scores of a row in order: the window and 3M below it."""

TAIL_MASS = 1e-12
"""Bound on the membership mass, relative to k, that ``top_m="auto"`` may leave outside the window."""

_COUNT_SLACK = 1e-6  # relative widening of a float threshold, so rounding can only over-count
_MARGIN = 1e-6  # certificate margin, in rank units; above torchsort's 1e-9 block-merging tolerance
_ROUNDING = 8.0  # the margin also covers this many units of rounding in θ = score / ε and the ranks
_BAND_RATIO = 1.25  # ratio of successive distance bands in the tail bound
_TAIL_CHUNK = 1 << 22  # scores per chunk of rows in the tail bound (a few float64 copies each)


@dataclass(frozen=True)
class SoftTopK:
    """Settings of the soft top-k, eq. (8): list length k, soft-rank strength ε, temperature τ, offset."""

    k: int
    eps: float
    tau: float
    offset: float


class Window(NamedTuple):
    """The soft top-k over each row's window, best item first."""

    membership: torch.Tensor  # (B, M) memberships of the window's items
    items: torch.Tensor  # (B, M) int64 item ids
    exact: torch.Tensor  # (B,) bool: certified equal to the whole-catalogue ranks


def window_size(top_m: int | Literal["auto"] | None, soft: SoftTopK, *, m: int) -> int | None:
    """The window M for ``top_m`` (see :func:`divlib.objectives.ddro`); None: rank the whole catalogue.

    Outside a certified window every soft rank is at least M + 1, so the membership left out is below
    ``(m − M)·σ((k + offset − M − 1)/τ)``. ``"auto"`` takes the smallest M that bounds it by
    ``TAIL_MASS·k``; an integer M whose bound is larger is refused, since its DDRO would be inexact.
    """
    if top_m is None:
        return None
    if top_m == "auto":
        if not (isinstance(soft.k, int) and soft.k >= 1 and soft.tau > 0):
            return None  # the full path reports the bad argument
        top_m = _auto_window(soft, m)
    elif isinstance(top_m, bool) or not isinstance(top_m, int):
        raise DivlibError(f'top_m must be an int, "auto" or None; got {top_m!r}')
    elif top_m <= soft.k:
        raise DivlibError(f"top_m = {top_m} must exceed k = {soft.k}; raise top_m or pass None")
    elif 2 * top_m < m and (left_out := _tail_bound(top_m, soft, m)) > TAIL_MASS * soft.k:
        raise DivlibError(
            f"top_m = {top_m} may leave {left_out:.2g} of the soft top-{soft.k} membership outside "
            f"the window (τ = {soft.tau:g}, m = {m}), above {TAIL_MASS:g}·k: DDRO would be inexact; "
            f'pass top_m="auto" (M = {_auto_window(soft, m)} here) or None'
        )
    return top_m if 2 * top_m < m else None


def _auto_window(soft: SoftTopK, m: int) -> int:
    return math.ceil(soft.k + soft.offset - 1 + soft.tau * math.log(m / (TAIL_MASS * soft.k)))


def _tail_bound(window: int, soft: SoftTopK, m: int) -> float:
    """``(m − M)·σ((k + offset − M − 1)/τ)``: membership that a certified window may leave out."""
    logit = (soft.k + soft.offset - window - 1) / soft.tau
    return (m - window) / (1 + math.exp(-logit)) if logit > -700 else 0.0


def top_window(
    scores: torch.Tensor, soft: SoftTopK, *, window: int, exclude: torch.Tensor | None
) -> Window:
    """The "l2" soft top-k of each row's ``window`` best items, and whether each row is certified.

    Args:
        scores: ``(B, m)`` finite scores, ``window < m``.
        exclude: optional ``(B, m)`` bool of items pushed below the rest (membership 0, no gradient).
    """
    m = scores.shape[1]
    scores_in = scores if exclude is None else push_excluded_below(scores, exclude, soft.eps)
    known = min(m, KNOWN_PER_WINDOW * window)  # the window and the items read exactly below it
    best = scores_in.detach().topk(known, dim=1, sorted=False)  # (B, M + P), sorted below: faster
    best_values, order = best.values.sort(dim=1, descending=True)
    items = best.indices.gather(1, order[:, :window])  # (B, M), best first
    ranks = soft_rank(scores_in.gather(1, items), eps=soft.eps)  # (B, M), the full rank's inputs
    item_excluded = None if exclude is None else exclude.gather(1, items)
    membership = topk_membership(
        ranks, k=soft.k, tau=soft.tau, offset=soft.offset, exclude=item_excluded
    )
    exact = window_is_exact(
        scores_in.detach(), best_values, ranks.detach()[:, -1], window=window, eps=soft.eps
    )
    return Window(membership, items, exact)


def window_is_exact(
    scores: torch.Tensor, best: torch.Tensor, last_rank: torch.Tensor, *, window: int, eps: float
) -> torch.Tensor:
    r"""Per row: does no PAV block of the full "l2" soft rank straddle the window boundary?

    Checks S(n) > 0 (module docstring). The P items read exactly give S(n) for n <= P; beyond,
    :func:`_tail_is_spread` bounds it from below. The margin must exceed ``_MARGIN``: torchsort's
    backward pass merges blocks whose values are within 1e-9, so a zero margin gives the same ranks but
    not the same gradient; and it grows with the rounding of the scores' dtype, since torchsort computes
    θ and the ranks in it (in float32 at θ ≈ 10⁴, a near-tie 1e-4 above the boundary is an exact tie).

    Args:
        scores: ``(B, m)`` detached scores (excluded items already pushed below).
        best: ``(B, M + P)`` the row's best scores, sorted descending; the window is the first M.
        last_rank: ``(B,)`` the window's soft rank of its M-th item.
        window: M.
    """
    below, rest = best.shape[1] - window, scores.shape[1] - window
    scaled = best.double() / eps  # θ = score / ε
    rounding = (
        _ROUNDING * torch.finfo(best.dtype).eps * (scaled.abs().amax(dim=1) + scores.shape[1])
    )
    margin = _MARGIN + rounding  # torchsort works in the scores' dtype: near-ties may merge there
    slope = scaled[:, window - 1] - scaled[:, window] + last_rank.double() - (window + 1) - margin
    steps = torch.arange(below, dtype=scaled.dtype, device=scaled.device)
    drift = (scaled[:, window : window + 1] - scaled[:, window:]) - steps  # d_t - t, (B, P)
    exact = (drift.cumsum(dim=1) + slope[:, None] * (steps + 1)).amin(dim=1) > 0
    if below == rest:
        return exact  # every item was read
    reach = scaled[:, window] - scaled[:, -1]  # d_{P-1}: items not read lie further down
    known = drift.sum(dim=1) + slope * below  # S(P)
    unsure = exact.nonzero().flatten()
    if unsure.numel():
        # Quick pass: S(1) = c > 0, so S rises beyond P if d_t >= t there, which holds when at most
        # max(P, d_{P-1}) items lie within (m − M)·ε of the boundary. The rest get the banded bound.
        within = _count_within(
            scores[unsure], best[unsure, window], distance=rest, window=window, eps=eps
        )
        unsure = unsure[within > reach[unsure].clamp_min(below)]
    for rows in unsure.split(max(1, _TAIL_CHUNK // scores.shape[1])) if unsure.numel() else ():
        exact[rows] = _tail_is_spread(
            scores[rows], best[rows, window], reach[rows], known[rows], slope[rows],
            window=window, below=below, eps=eps,
        )  # fmt: skip
    return exact


def _tail_is_spread(
    scores: torch.Tensor,
    boundary: torch.Tensor,
    reach: torch.Tensor,
    known: torch.Tensor,
    slope: torch.Tensor,
    *,
    window: int,
    below: int,
    eps: float,
) -> torch.Tensor:
    """Per row: S(n) > 0 for every n in (P, m − M], from lower bounds on the unread d_t.

    One pass counts the items by distance band below the boundary, x_j = u·ρ^j with u = max(d_{P−1}, 1).
    With N(x) the number of items below the window within x·ε: d_t >= d_{P−1} for t >= P, and
    d_t >= x_j for t >= N(x_j). On each stretch where the bound is one constant the increments
    (bound − t + c) of S decrease, so S is concave there and its minimum lies at a stretch's end:
    S is checked at every N(x_j) and at m − M. Counts round towards more items, lowering the bound.

    Args:
        scores: ``(R, m)`` all scores; boundary: ``(R,)`` the (M+1)-th best; reach: ``(R,)`` d_{P−1};
        known: ``(R,)`` S(P); slope: ``(R,)`` c; window: M; below: P.
    """
    rows, rest = scores.shape[0], scores.shape[1] - window
    unit = reach.clamp_min(1.0)
    bands = math.ceil(math.log(rest / unit.min().item()) / math.log(_BAND_RATIO)) + 1
    distance = (boundary.double()[:, None] - scores.double()) / eps  # d of every item, (R, m)
    distance = distance - distance.abs() * _COUNT_SLACK  # round towards counting more
    ratio = torch.log(distance.clamp_min(1e-300) / unit[:, None]) / math.log(_BAND_RATIO)
    band = (ratio - _COUNT_SLACK).floor().add(1).clamp(0, bands).long()  # first j with d < x_j
    counts = torch.zeros(rows, bands + 1, dtype=torch.float64, device=scores.device)
    counts.scatter_add_(1, band, torch.ones_like(distance))
    starts = (counts.cumsum(dim=1)[:, :bands] - window).clamp(below, rest)  # N(x_j), j < bands
    first = torch.cat([starts.new_full((rows, 1), below), starts], dim=1)  # stretch starts
    ends = torch.cat([starts, starts.new_full((rows, 1), rest)], dim=1)
    powers = _BAND_RATIO ** torch.arange(bands, dtype=torch.float64, device=scores.device)
    level = torch.cat([reach[:, None], unit[:, None] * powers], dim=1)  # the bound on each stretch
    length = ends - first
    gain = (level + slope[:, None]) * length - (ends * (ends - 1) - first * (first - 1)) / 2
    return (known[:, None] + gain.cumsum(dim=1)).amin(dim=1) > 0


def _count_within(
    scores: torch.Tensor, boundary: torch.Tensor, *, distance: float, window: int, eps: float
) -> torch.Tensor:
    """Per row: the number of items below the window within ``distance``·ε of the boundary score."""
    threshold = (boundary.double() - distance * eps).to(scores.dtype)
    threshold = threshold - threshold.abs() * _COUNT_SLACK  # round towards counting more
    return (scores > threshold[:, None]).sum(dim=1, dtype=torch.int32) - window
