r"""The soft top-k over each row's best items up to a certified cut, where no PAV block straddles.

With "l2" the soft rank (eq. 7) is a pool-adjacent-violators (PAV) solution, and the soft ranks of a row's
b best items depend on the rest only if a PAV block straddles position b. Then, in units of ε, with g the
gap between the b-th and (b+1)-th best scores, z̃_b the soft rank of the b-th item among the b best alone,
and d_t the distance of the (b+1+t)-th best item below the (b+1)-th best, the block boundary holds iff

.. math:: S(n) = \sum_{t<n} (d_t - t) + c\,n > 0 \quad \text{for every } n \ge 1,
          \qquad c = g + \tilde z_b - (b + 1) - \text{margin}.

Each row reads its 8M best scores, the best 4M in order (M the window of :func:`window_size`), and ranks
its 2M best; the cut b is the first end of a PAV block of those ranks at or after M (adding items below
a prefix only merges its last blocks, so every block boundary of the whole catalogue is one). S(n) is
read exactly as far as the ordered scores go, bounded from their sum and extremes up to 8M, and beyond
by a count of the items within (m − b)·ε of the (b+1)-th best or, where that is not enough, by counts
per distance band. On a certified row the items below the cut have soft ranks >= b + 1 >= M + 1, so
the membership (eq. 8) left out is below ``(m − M)·σ((k + offset − M − 1)/τ)``.

Where the time goes at ML-1M size (6,040 × 3,706, one thread): the top-8M selection about 40 %, the
backward pass's dense (B, m) gradient 15 %, the certificate 15 % (a third of it the count), ordering
and ranking the rest.
"""

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch

from divlib._validate import check_number, check_positive, check_window
from divlib.errors import DivlibError
from divlib.ranking import push_excluded_below, soft_rank, topk_membership

KNOWN_PER_WINDOW = 8
"""Each row's best ``8·M`` scores are read: the ranked items and those the certificate reads."""

ORDERED_PER_WINDOW = 4
"""Of those, the best ``4·M`` are read in order; of the rest, the certificate needs the sum and minimum."""

CUT_PER_WINDOW = 2
"""Each row's best ``2·M`` items are soft-ranked; the cut lies between M and 2M."""

TAIL_MASS = 1e-12
"""Bound on the membership mass, relative to k, that ``top_m="auto"`` may leave outside the window."""

_COUNT_SLACK = 1e-6  # relative widening of a float threshold, so rounding can only over-count
_MARGIN = 1e-6  # certificate margin, in rank units; above torchsort's 1e-9 block-merging tolerance
_ROUNDING = 8.0  # the margin also covers this many units of rounding in θ = score / ε and the ranks
_BAND_RATIO = 1.25  # ratio of successive distance bands in the tail bound
# numbers per chunk of rows, so that temporaries stay in cache: scores in the tail bound and the count,
# read best scores in the certificate
_TAIL_CHUNK = 1 << 18
_COUNT_CHUNK = 1 << 20
_CUT_CHUNK = 1 << 18


@dataclass(frozen=True)
class SoftTopK:
    """Settings of the soft top-k, eq. (8): list length k, soft-rank strength ε, temperature τ, offset."""

    k: int
    eps: float
    tau: float
    offset: float

    def __post_init__(self):  # before any of them sizes the window
        check_positive("eps", self.eps)
        check_positive("tau", self.tau)
        check_number("offset", self.offset)


class Window(NamedTuple):
    """The soft top-k over each row's best items, best first, up to its cut (0 beyond it)."""

    membership: torch.Tensor  # (B, W) memberships, 0 from each row's cut on (no gradient there)
    items: torch.Tensor  # (B, W) int64 item ids, W the widest cut
    cut: torch.Tensor  # (B,) int64 certified cut b, 0 where none is

    @property
    def exact(self) -> torch.Tensor:
        """``(B,)`` bool: the row's memberships are certified equal to the whole-catalogue ones."""
        return self.cut > 0


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
    else:
        check_window(top_m, soft.k)
        if 2 * top_m < m and (left_out := _tail_bound(top_m, soft, m)) > TAIL_MASS * soft.k:
            raise DivlibError(
                f"top_m = {top_m} may leave {left_out:.2g} of the soft top-{soft.k} membership "
                f"outside the window (τ = {soft.tau:g}, m = {m}), above {TAIL_MASS:g}·k: DDRO "
                f'would be inexact; pass top_m="auto" (M = {_auto_window(soft, m)} here) or None'
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
    """The "l2" soft top-k of each row's best items up to its certified cut (module docstring).

    The soft ranks are computed in float64 whatever the scores' dtype (they cover B × 2M items only).
    In float32, θ = score / ε is rounded: at ML-1M size the float32 gradient is then off by 2.6e-3 to
    0.46 of its largest entry, as the official code's is; in float64, by 1e-6 (``bench/ddro.py``).

    Args:
        scores: ``(B, m)`` finite scores, ``window < m``.
        window: M, the shortest cut.
        exclude: optional ``(B, m)`` bool of items pushed below the rest (membership 0, no gradient).
    """
    m = scores.shape[1]
    scores_in = scores if exclude is None else push_excluded_below(scores, exclude, soft.eps)
    known = min(m, KNOWN_PER_WINDOW * window)  # the scores read
    ordered = known if known == m else min(known, ORDERED_PER_WINDOW * window)  # read in order
    ranked = min(known, CUT_PER_WINDOW * window)  # the items soft-ranked: every cut lies within
    best = scores_in.detach().topk(known, dim=1, sorted=False)  # (B, 8M)
    best_ordered, order = best.values.topk(ordered, dim=1)  # (B, 4M), best first: faster than sort
    items = best.indices.gather(1, order[:, :ranked])  # (B, 2M), best first
    ranks = soft_rank(scores_in.gather(1, items).double(), eps=soft.eps)  # (B, 2M)
    read = (best.values.double().sum(dim=1), best.values.amin(dim=1))  # the sum and the lowest
    chunk = max(1, _CUT_CHUNK // known)  # rows at a time: the certificate's numbers stay in cache
    cut = torch.cat(
        [
            window_cut(
                rows, ordered_rows, ranked_rows, read_rows, known=known, window=window, eps=soft.eps
            )
            for rows, ordered_rows, ranked_rows, *read_rows in zip(
                scores_in.detach().split(chunk),
                best_ordered.split(chunk),
                ranks.detach().split(chunk),
                *(part.split(chunk) for part in read),
                strict=True,
            )
        ]
    )
    width = max(window, int(cut.max())) if len(cut) else window  # the widest cut
    items, ranks = items[:, :width], ranks[:, :width]
    # items below the cut (every item of an uncertified row) get membership 0 and no gradient
    outside = torch.arange(width, device=cut.device) >= cut[:, None]
    if exclude is not None:
        outside = outside | exclude.gather(1, items)
    membership = topk_membership(
        ranks, k=soft.k, tau=soft.tau, offset=soft.offset, exclude=outside
    ).to(scores.dtype)
    return Window(membership, items, cut)


def window_cut(
    scores: torch.Tensor,
    best: torch.Tensor,
    ranks: torch.Tensor,
    read: tuple[torch.Tensor, torch.Tensor],
    *,
    known: int,
    window: int,
    eps: float,
) -> torch.Tensor:
    r"""Per row: the cut b in [M, W], where no PAV block of the full "l2" soft rank straddles; 0 if none
    is certified.

    The candidate is the first end of a PAV block of ``ranks`` at or after M (where θ + z̃ steps). The
    certificate checks S(n) > 0 for it (module docstring): exactly over the scores in order; on the
    rest of the ``known`` best scores, from their sum (S(P) exactly) and the bounds d_t >= d_{P'−1}
    (from the left) and d_t <= d_{P−1} (from the right), P' and P the items in order and read below
    the cut; beyond, by counts (quick pass, then :func:`_tail_is_spread`). The margin must exceed
    ``_MARGIN``: torchsort's backward pass merges blocks whose values are within 1e-9, so a zero
    margin gives the same ranks but not the same gradient; and it grows with the rounding of the
    scores' dtype, since the full soft rank computes θ and the ranks in it (in float32 at θ ≈ 10⁴, a
    near-tie 1e-4 above the cut is an exact tie).

    Args:
        scores: ``(B, m)`` detached scores (excluded items already pushed below).
        best: ``(B, L')`` the row's best scores, sorted descending.
        ranks: ``(B, W)`` soft ranks of the row's W best items among themselves, W <= L'.
        read: ``(B,)`` sum and ``(B,)`` minimum of the row's ``known`` best scores, known >= L'.
        window: M <= W.
    """
    rows, (ordered, ranked), m = scores.shape[0], (best.shape[1], ranks.shape[1]), scores.shape[1]
    every = torch.arange(rows, device=scores.device)
    scaled = best.double() / eps  # θ = score / ε
    rounding = _ROUNDING * torch.finfo(best.dtype).eps * (scaled.abs().amax(dim=1) + m)
    # the full soft rank works in the scores' dtype: near-ties may merge there
    margin = _MARGIN + rounding
    level = scaled[:, :ranked] + ranks.double()  # θ + z̃: constant within a PAV block
    ends = (level[:, window:] - level[:, window - 1 : -1]).abs() > margin[:, None]
    ends = torch.cat([ends, ends.new_ones(rows, 1)], dim=1)  # the last ranked item ends a block
    cut = window + ends.int().argmax(dim=1)  # the first block end at or after M, (B,)
    slope = (
        scaled[every, cut - 1]
        - scaled[every, cut]
        + ranks.double()[every, cut - 1]
        - (cut + 1)
        - margin
    )  # c
    in_order = ordered - cut  # P': items in order from the (b+1)-th best on
    steps = torch.arange(ordered - window, dtype=scaled.dtype, device=scaled.device)
    position = (cut[:, None] + steps.long()).clamp_max(ordered - 1)
    boundary = scaled[every, cut]  # θ of the (b+1)-th best
    drift = boundary[:, None] - scaled.gather(1, position) - steps  # d_t − t
    partial = drift.cumsum(dim=1) + slope[:, None] * (steps + 1)  # S(n), n = t + 1
    exact = partial.masked_fill(steps >= in_order[:, None], float("inf")).amin(dim=1) > 0
    if ordered == m:
        return torch.where(exact, cut, 0)  # every item was read in order
    at_ordered = partial.gather(1, (in_order - 1)[:, None]).squeeze(1)  # S(P')
    below = known - cut  # P: items read from the (b+1)-th best on
    above = scaled.cumsum(dim=1).gather(1, (cut - 1)[:, None]).squeeze(1)  # Σ θ of the b best
    total, lowest = read[0] / eps, read[1].double() / eps
    at_read = below * boundary - (total - above) - below * (below - 1) / 2 + slope * below  # S(P)
    reach = boundary - lowest  # d_{P−1}
    # Between P' and P, S lies above both concave bounds, from S(P') with d_t >= d_{P'−1} and from
    # S(P) with d_t <= d_{P−1}; one of them positive at its far end settles it.
    left = at_ordered + _rise(in_order, below, drift[every, in_order - 1] + in_order - 1, slope)
    right = at_read - _rise(in_order, below, reach, slope)
    exact &= (at_read > 0) & ((left > 0) | (right > 0))
    # Quick pass: the N items within (m − b)·ε of the (b+1)-th best have d_t >= d_{P−1} beyond P, the
    # others d_t >= m − b > t. S is concave on (P, N], so S(N) > 0 settles it.
    rest = m - cut
    near = _count_within(scores, best[every, cut], distance=rest, cut=cut, eps=eps)
    at_near = at_read + _rise(below, near.double().clamp_min(below), reach, slope)  # S(N)
    unsure = (exact & (at_near <= 0)).nonzero().flatten()
    for rows_ in unsure.split(max(1, _TAIL_CHUNK // m)) if unsure.numel() else ():
        exact[rows_] = _tail_is_spread(
            scores[rows_],
            best[rows_, cut[rows_]],
            reach[rows_],
            at_read[rows_],
            slope[rows_],
            cut=cut[rows_],
            below=below[rows_],
            eps=eps,
        )
    return torch.where(exact, cut, 0)


def _rise(start: torch.Tensor, end: torch.Tensor, level: torch.Tensor, slope: torch.Tensor):
    """Σ_{t=start}^{end−1} (level − t + c): what S gains from ``start`` to ``end`` if d_t = level."""
    start, end = start.double(), end.double()
    return (end - start) * (level + slope) - (end * (end - 1) - start * (start - 1)) / 2


def _tail_is_spread(
    scores: torch.Tensor,
    boundary: torch.Tensor,
    reach: torch.Tensor,
    known: torch.Tensor,
    slope: torch.Tensor,
    *,
    cut: torch.Tensor,
    below: torch.Tensor,
    eps: float,
) -> torch.Tensor:
    """Per row: S(n) > 0 for every n in (P, m − b], from lower bounds on the unread d_t.

    One pass counts the items by distance band below the cut, x_j = u·ρ^j with u = max(d_{P−1}, 1).
    With N(x) the number of items below the cut within x·ε: d_t >= d_{P−1} for t >= P, and
    d_t >= x_j for t >= N(x_j). On each stretch where the bound is one constant the increments
    (bound − t + c) of S decrease, so S is concave there and its minimum lies at a stretch's end:
    S is checked at every N(x_j) and at m − b. Counts round towards more items, lowering the bound.

    Args:
        scores: ``(R, m)`` all scores; boundary: ``(R,)`` the (b+1)-th best; reach: ``(R,)`` d_{P−1};
        known: ``(R,)`` S(P); slope: ``(R,)`` c; cut: ``(R,)`` b; below: ``(R,)`` P.
    """
    rows, m = scores.shape
    rest, below = (m - cut).double()[:, None], below.double()[:, None]
    unit = reach.clamp_min(1.0)
    bands = math.ceil(math.log(rest.max().item() / unit.min().item()) / math.log(_BAND_RATIO)) + 1
    distance = (boundary.double()[:, None] - scores.double()) / eps  # d of every item, (R, m)
    distance = distance - distance.abs() * _COUNT_SLACK  # round towards counting more
    ratio = torch.log(distance.clamp_min(1e-300) / unit[:, None]) / math.log(_BAND_RATIO)
    band = (ratio - _COUNT_SLACK).floor().add(1).clamp(0, bands).long()  # first j with d < x_j
    counts = torch.zeros(rows, bands + 1, dtype=torch.float64, device=scores.device)
    counts.scatter_add_(1, band, torch.ones_like(distance))
    starts = (counts.cumsum(dim=1)[:, :bands] - cut.double()[:, None]).clamp(below, rest)  # N(x_j)
    first = torch.cat([below, starts], dim=1)  # stretch starts
    ends = torch.cat([starts, rest], dim=1)
    powers = _BAND_RATIO ** torch.arange(bands, dtype=torch.float64, device=scores.device)
    level = torch.cat([reach[:, None], unit[:, None] * powers], dim=1)  # the bound on each stretch
    length = ends - first
    gain = (level + slope[:, None]) * length - (ends * (ends - 1) - first * (first - 1)) / 2
    return (known[:, None] + gain.cumsum(dim=1)).amin(dim=1) > 0


def _count_within(
    scores: torch.Tensor,
    boundary: torch.Tensor,
    *,
    distance: torch.Tensor,
    cut: torch.Tensor,
    eps: float,
) -> torch.Tensor:
    """Per row: the number of items below the cut within ``distance``·ε of the boundary score.

    Counted over chunks of rows, so that no ``(B, m)`` temporary is allocated."""
    threshold = (boundary.double() - distance * eps).to(scores.dtype)
    threshold = threshold - threshold.abs() * _COUNT_SLACK  # round towards counting more
    chunk = max(1, _COUNT_CHUNK // scores.shape[1])
    counts = [
        (rows > below[:, None]).sum(dim=1)
        for rows, below in zip(scores.split(chunk), threshold.split(chunk), strict=True)
    ]
    return torch.cat(counts) - cut
