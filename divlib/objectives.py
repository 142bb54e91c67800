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
from divlib.ranking import push_excluded_below, soft_rank, soft_topk, topk_items, topk_membership
from divlib.similarity import ItemDistance, as_item_distance

DENOMINATOR_FLOOR = 1e-8
"""Floor of the soft pair count in eq. (9); the official code adds 1e-8 (``code/cosine_distance.py``)."""

KNOWN_PER_WINDOW = 4
"""The truncated DDRO reads the best ``4·M`` scores of a row in order: the window and 3M below it."""

_COUNT_SLACK = 1e-6  # relative widening of a float threshold, so rounding can only over-count
_MARGIN = 1e-6  # certificate margin, in rank units; above torchsort's 1e-9 block-merging tolerance

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
    items = topk_items(scores, k=k, start=start, exclude=exclude)  # (B, k)
    ones = scores.new_ones(items.shape)
    return distance.pair_sum(ones, items=items) / (k * (k - 1))


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
        read exactly over the next 3M items, and counts over the row bound the rest. Rows that fail (a
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
    """Per row: does no PAV block of the full "l2" soft rank straddle the window boundary?

    In units of ε, with d_t the distance of the (M+1+t)-th best item below the (M+1)-th best, the block
    boundary holds iff ``g + min_n mean(d_t − t, t < n) + z̃_M − (M + 1) >= 0``. The P items read exactly
    give the running means for n <= P; they are the minimum over all n if ``d_t >= t`` for t >= P
    (checked by :func:`_spread_below`). The margin must exceed ``_MARGIN``: torchsort's backward pass
    merges blocks whose values are within 1e-9, so a zero margin gives the same ranks but not the same
    gradient.

    Args:
        scores: ``(B, m)`` detached scores (excluded items already pushed below).
        best: ``(B, M + P)`` the row's best scores, sorted descending; the window is the first M.
        last_rank: ``(B,)`` the window's soft rank of its M-th item.
        window: M.
    """
    below, rest = best.shape[1] - window, scores.shape[1] - window
    scaled = best.double() / eps  # θ = score / ε
    gap = scaled[:, window - 1] - scaled[:, window]  # g >= 0
    steps = torch.arange(below, dtype=scaled.dtype, device=scaled.device)
    drift = (scaled[:, window : window + 1] - scaled[:, window:]) - steps  # d_t - t, (B, P)
    running_mean = drift.cumsum(dim=1) / (steps + 1)
    exact = gap + running_mean.amin(dim=1) + last_rank.double() - (window + 1) > _MARGIN
    if below == rest:
        return exact  # every item was read
    reach = scaled[:, window] - scaled[:, -1]  # d_P: items not read lie at least this far down
    unsure = exact & (reach < rest)
    if unsure.any():
        rows = unsure.nonzero().flatten()
        exact[rows] = _spread_below(
            scores[rows], best[rows, window], reach[rows].clamp_min(below), window, eps
        )
    return exact


def _spread_below(
    scores: torch.Tensor, boundary: torch.Tensor, known: torch.Tensor, window: int, eps: float
) -> torch.Tensor:
    """Per row: at most t items lie within t·ε below the boundary score, for every t in (known, m − M).

    Up to ``known`` = max(P, d_P) this holds by construction. Beyond it, one count C of the items within
    (m − M)·ε suffices when C <= known; rows where it does not are checked along a doubling chain,
    N(T_1) <= known, N(T_{j+1}) <= T_j with T_j = min(2^j·known, m − M) (N is non-decreasing).
    """
    rest = scores.shape[1] - window
    ok = _count_within(scores, boundary, torch.full_like(known, rest), window, eps) <= known
    if ok.all():
        return ok
    rows = (~ok).nonzero().flatten()
    scores, boundary, limit = scores[rows], boundary[rows], known[rows]
    chain_ok = torch.ones_like(rows, dtype=torch.bool)
    while True:
        step = torch.minimum(2 * limit, torch.full_like(limit, rest))
        chain_ok &= _count_within(scores, boundary, step, window, eps) <= limit
        if (step >= rest).all() or not chain_ok.any():
            break
        limit = step
    ok[rows] = chain_ok
    return ok


def _count_within(
    scores: torch.Tensor, boundary: torch.Tensor, distance: torch.Tensor, window: int, eps: float
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
