r"""Top-k diversity per user: the hard DRO (eq. 5–6) and its differentiable version DDRO (eq. 9).

Both are mean pairwise distances within a user's list, normalised over *distinct* pairs so that values lie
in [0, 1] (``shared/notes/paper.md`` §1.2: eq. 5 read literally gives twice that; every reported value and
the official code use the mean over distinct pairs).
"""

import math
from typing import Literal

import torch

from divlib._validate import check_exclude, check_scores
from divlib.errors import DivlibError
from divlib.metrics import list_diversity
from divlib.ranking import push_excluded_below, soft_rank, soft_topk, topk_items, topk_membership
from divlib.similarity import ItemDistance, as_item_distance

DENOMINATOR_FLOOR = 1e-8
"""Floor of the soft pair count in eq. (9); the official code adds 1e-8 (``code/cosine_distance.py``)."""

KNOWN_PER_WINDOW = 4
"""The truncated DDRO reads the best ``4·M`` scores of a row in order: the window and 3M below it."""

_COUNT_SLACK = 1e-6  # relative widening of a float threshold, so rounding can only over-count
_MARGIN = 1e-6  # certificate margin, in rank units; above torchsort's 1e-9 block-merging tolerance
_ROUNDING = 8.0  # the margin also covers this many units of rounding in θ = score / ε and the ranks
_BAND_RATIO = 1.25  # ratio of successive distance bands in the tail bound
_TAIL_CHUNK = 1 << 22  # scores per chunk of rows in the tail bound (a few float64 copies each)

TAIL_MASS = 1e-12
"""Bound on the membership mass, relative to k, that ``top_m="auto"`` may leave outside the window."""


def dro(
    scores: torch.Tensor,
    *,
    distance: ItemDistance | torch.Tensor,
    k: int,
    exclude: torch.Tensor | None = None,
    start: int = 0,
) -> torch.Tensor:
    r"""Hard diversity of each user's list: eq. (5) as a mean over distinct pairs.

    .. math:: \mathrm{DRO}_u = \frac{1}{k(k-1)} \sum_{i \ne j} l_u(i)\, l_u(j)\, D_{ij}

    with :math:`l_u` the 0/1 indicator of the items ranked ``start+1 .. start+k`` (``start=k`` is the
    paper's "k+1 ∼ 2k"). The paper's DRO (eq. 6) is the mean of this over users.

    Args:
        scores: ``(B, m)`` scores; ``distance``: item distance or ``(m, m)`` tensor; ``k >= 2``.
        exclude: optional ``(B, m)`` bool of items that never enter the list.

    Returns:
        ``(B,)`` values in [0, 1] for distances in [0, 1].
    """
    if isinstance(k, int) and not isinstance(k, bool) and k < 2:
        raise DivlibError(f"k must be >= 2 for a pairwise diversity; got {k}")
    distance = as_item_distance(distance)
    return list_diversity(topk_items(scores, k=k, start=start, exclude=exclude), distance)


def ddro(
    scores: torch.Tensor,
    *,
    distance: ItemDistance | torch.Tensor,
    k: int,
    eps: float,
    tau: float = 1.0,
    exclude: torch.Tensor | None = None,
    offset: float = 0.0,
    top_m: int | Literal["auto"] | None = "auto",
    regularization: str = "l2",
) -> torch.Tensor:
    r"""Differentiable diversity of each user's soft top-k, eq. (9).

    .. math:: \mathrm{DDRO}_u = \frac{\sum_{i,j} \tilde l_u(i)\, \tilde l_u(j)\, D_{ij}}
                                    {(\sum_i \tilde l_u(i))^2 - \sum_i \tilde l_u(i)^2}

    with :math:`\tilde l_u` the soft top-k of :func:`divlib.ranking.soft_topk` (ε = ``eps``, τ = ``tau``).
    The denominator is the soft count of ordered distinct pairs (k(k−1) for a hard list), the per-user N of
    the official code. As ``eps``, ``tau`` → 0 with ``offset=0.5`` this tends to :func:`dro`; with the
    paper's ``offset=0`` the k-th item keeps weight 1/2 in the limit (see ``soft_topk``). The training
    objective L_DDRO is the mean over users.

    Args:
        scores: ``(B, m)`` finite scores; ``distance``: item distance or ``(m, m)`` tensor.
        k, eps, tau, offset, regularization: as in :func:`divlib.ranking.soft_topk`.
        exclude: optional ``(B, m)`` bool of each user's training items (membership 0, no gradient).
        top_m: soft-rank only each user's M best items (see Note). ``"auto"`` (default) takes
            ``M = k + offset − 1 + τ·ln(m / (TAIL_MASS·k))`` (43 for k=10, τ=1, m=3706); an int sets M;
            ``None`` ranks the whole catalogue.

    Returns:
        ``(B,)`` values, in [0, 1] for distances in [0, 1]; differentiable in ``scores``.

    Note:
        *Truncation.* With "l2" the soft rank is a pool-adjacent-violators solution, and the soft ranks of
        the M best items depend on the rest only if a PAV block straddles position M. Each row is
        certified before its window result is used: the block boundary holds iff
        ``g + μ + z̃_M − (M + 1) ≥ 0``, where g is the gap between the M-th and (M+1)-th best scores in
        units of ε, z̃_M the window's soft rank of the M-th best item, and μ the smallest running mean of
        ``d_t − t`` over the items below (d_t: their distance to the (M+1)-th best, in units of ε). μ is
        read exactly over the next 3M items; one pass counting the rest by distance band bounds it
        beyond (it certifies nearly every row that is in fact exact). Rows that fail (a
        near-tie at the boundary, or ε large against the score spacing) are redone with a window of 2M,
        then over the whole catalogue, as is every row under "kl"; the result never silently differs. Items outside the window then have soft ranks ≥ M + 1, so the
        membership mass left out is below ``(m − M)·σ((k + offset − M − 1)/τ)``.

        *Denominator.* The official code divides by ``pairs + 1e-8``; here the soft pair count is
        floored at ``DENOMINATOR_FLOOR`` instead, so values are unbiased whenever it exceeds 1e-8. The two
        differ visibly only when ε is so large that every membership is tiny (a degenerate soft top-k).
    """
    check_scores(scores)
    distance = as_item_distance(distance)
    m = scores.shape[1]
    if exclude is not None:
        check_exclude(exclude, scores)
    window = _window_size(top_m, k=k, tau=tau, offset=offset, m=m)
    if window is None or regularization != "l2":
        return _ddro_full(scores, distance, k, eps, tau, offset, exclude, regularization)
    return _ddro_window(scores, distance, k, eps, tau, offset, exclude, window)


def _ddro_full(scores, distance, k, eps, tau, offset, exclude, regularization) -> torch.Tensor:
    membership = soft_topk(
        scores, k=k, eps=eps, tau=tau, offset=offset, exclude=exclude, regularization=regularization
    )  # (B, m)
    return _pair_mean(distance.pair_sum(membership), membership)


def _ddro_window(
    scores, distance, k, eps, tau, offset, exclude, window, retry=True
) -> torch.Tensor:
    """DDRO over each row's ``window`` best items, certified per row.

    Rows that fail the certificate (a PAV block straddles the boundary, e.g. a near-tie there) are redone
    once with a window twice as wide, then over the whole catalogue.
    """
    m = scores.shape[1]
    scores_in = scores if exclude is None else push_excluded_below(scores, exclude, eps)
    known = min(m, KNOWN_PER_WINDOW * window)  # the window and the items read exactly below it
    best = scores_in.detach().topk(
        known, dim=1, sorted=False
    )  # (B, M + P); sorting after is faster
    best_values, order = best.values.sort(dim=1, descending=True)
    items = best.indices.gather(1, order[:, :window])  # (B, M), best first
    ranks = soft_rank(scores_in.gather(1, items), eps=eps)  # (B, M), the full rank's inputs
    item_excluded = None if exclude is None else exclude.gather(1, items)
    membership = topk_membership(ranks, k=k, tau=tau, offset=offset, exclude=item_excluded)
    values = _pair_mean(distance.pair_sum(membership, items=items), membership)
    exact = _window_is_exact(scores_in.detach(), best_values, ranks.detach()[:, -1], window, eps)
    if exact.all():
        return values
    rows = (~exact).nonzero().flatten()
    redo = (scores[rows], distance, k, eps, tau, offset, None if exclude is None else exclude[rows])
    if retry and 4 * window < m:
        redone = _ddro_window(*redo, 2 * window, retry=False)
    else:
        redone = _ddro_full(*redo, "l2")
    return values.index_put((rows,), redone)


def _window_is_exact(
    scores: torch.Tensor, best: torch.Tensor, last_rank: torch.Tensor, window: int, eps: float
) -> torch.Tensor:
    r"""Per row: does no PAV block of the full "l2" soft rank straddle the window boundary?

    In units of ε, with d_t the distance of the (M+1+t)-th best item below the (M+1)-th best and
    c = g + z̃_M − (M + 1) − margin, the block boundary holds iff

    .. math:: S(n) = \sum_{t<n} (d_t - t) + c\,n > 0 \quad \text{for every } n \ge 1.

    The P items read exactly give S(n) for n <= P; beyond, :func:`_tail_is_spread` bounds it from
    below. The margin must exceed ``_MARGIN``: torchsort's backward pass merges blocks whose values are
    within 1e-9, so a zero margin gives the same ranks but not the same gradient; and it grows with the
    rounding of the scores' dtype, since torchsort computes θ and the ranks in it (in float32 at
    θ ≈ 10⁴, a near-tie 1e-4 above the boundary is an exact tie there).

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
        within = _count_within(scores[unsure], best[unsure, window], rest, window, eps)
        unsure = unsure[within > reach[unsure].clamp_min(below)]
    for rows in unsure.split(max(1, _TAIL_CHUNK // scores.shape[1])) if unsure.numel() else ():
        exact[rows] = _tail_is_spread(
            scores[rows], best[rows, window], reach[rows], known[rows], slope[rows], window, below, eps
        )  # fmt: skip
    return exact


def _tail_is_spread(
    scores: torch.Tensor,
    boundary: torch.Tensor,
    reach: torch.Tensor,
    known: torch.Tensor,
    slope: torch.Tensor,
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
    scores: torch.Tensor, boundary: torch.Tensor, distance: float, window: int, eps: float
) -> torch.Tensor:
    """Per row: the number of items below the window within ``distance``·ε of the boundary score."""
    threshold = (boundary.double() - distance * eps).to(scores.dtype)
    threshold = threshold - threshold.abs() * _COUNT_SLACK  # round towards counting more
    return (scores > threshold[:, None]).sum(dim=1, dtype=torch.int32) - window


def _window_size(top_m, *, k: int, tau: float, offset: float, m: int) -> int | None:
    if top_m is None:
        return None
    if top_m == "auto":
        if not (isinstance(k, int) and k >= 1 and tau > 0):
            return None  # the full path reports the bad argument
        top_m = math.ceil(k + offset - 1 + tau * math.log(m / (TAIL_MASS * k)))
    elif isinstance(top_m, bool) or not isinstance(top_m, int):
        raise DivlibError(f'top_m must be an int, "auto" or None; got {top_m!r}')
    elif top_m <= k:
        raise DivlibError(f"top_m = {top_m} must exceed k = {k}; raise top_m or pass None")
    return top_m if 2 * top_m < m else None


def _pair_mean(pair_sum: torch.Tensor, membership: torch.Tensor) -> torch.Tensor:
    pairs = membership.sum(dim=1) ** 2 - (membership**2).sum(dim=1)  # soft k(k - 1)
    return pair_sum / pairs.clamp_min(DENOMINATOR_FLOOR)
