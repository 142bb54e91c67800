r"""Top-k diversity per user: the hard DRO (eq. 5–6) and its differentiable version DDRO (eq. 9).

Both are mean pairwise distances within a user's list, normalised over *distinct* pairs so that values lie
in [0, 1] (``shared/notes/paper.md`` §1.2: eq. 5 read literally gives twice that; every reported value and
the official code use the mean over distinct pairs).
"""

from typing import Literal

import torch

from divlib._validate import (
    check_candidates,
    check_count,
    check_distance,
    check_exclude,
    check_scores,
)
from divlib._window import SoftTopK, top_window, window_size
from divlib.errors import DivlibError
from divlib.metrics import list_diversity
from divlib.ranking import soft_topk, topk_items
from divlib.similarity import ItemDistance, as_item_distance

DENOMINATOR_FLOOR = 1e-8
"""Floor of the soft pair count in eq. (9); the official code adds 1e-8 (``code/cosine_distance.py``)."""


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
    _check_pairwise(k)
    check_scores(scores)
    distance = as_item_distance(distance)
    check_distance(distance, scores)
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
            ``M = k + offset − 1 + τ·ln(m / (TAIL_MASS·k))`` (43 for k=10, τ=1, m=3706; ``TAIL_MASS``
            = 1e-12 in :mod:`divlib._window`); an int sets M, and is refused if membership above
            ``TAIL_MASS·k`` could lie outside it; ``None`` ranks the whole catalogue.

    Returns:
        ``(B,)`` values within the range of D (:attr:`~divlib.similarity.ItemDistance.value_range`,
        [0, 1] for Jaccard distances); differentiable in ``scores``.

    Raises:
        DivlibError: as :func:`dro`, e.g. a row has fewer than k items that are not excluded (its soft
            top-k would spread over fewer than k items).

    Note:
        *Truncation.* With "l2", each row is soft-ranked over its best items up to a cut b between
        M and 2M that is certified to give the whole-catalogue soft ranks (:mod:`divlib._window`: the
        first end of a PAV block at or after M, and no PAV block of the full rank may straddle it).
        Rows with no certified cut (ε large against the score spacing, so that blocks reach far down
        the catalogue) are redone over the whole catalogue, as is every row under "kl"; the ranks are
        never silently truncated. On a certified row the membership mass left out
        is below ``(m − M)·σ((k + offset − M − 1)/τ)``.

        *Denominator.* The official code divides by ``pairs + 1e-8``; here the soft pair count is
        floored at ``DENOMINATOR_FLOOR`` instead, so values are unbiased whenever it exceeds 1e-8. The two
        differ visibly only when ε is so large that every membership is tiny (a degenerate soft top-k).
        The soft pair count is summed as :math:`2 \sum_i \tilde l_i \sum_{j<i} \tilde l_j`, from
        non-negative terms only: the official :math:`(\sum \tilde l)^2 - \sum \tilde l^2` cancels
        when one membership dominates (float32: DDRO 1.0005 for a list of pairwise distance 1).

        *Range.* Eq. (9) is a weighted mean of the :math:`D_{ij}`, so its exact value lies within
        the range of D. The result is clamped to that range in the forward pass only, to undo
        rounding (float32 gave 1.0000001); the gradient passes through unchanged, so it is the
        gradient of eq. (9) everywhere, at the bounds too.
    """
    values, _ = _ddro(
        scores,
        distance,
        SoftTopK(k=k, eps=eps, tau=tau, offset=offset),
        exclude=exclude,
        top_m=top_m,
        regularization=regularization,
    )
    return values


def ddro_and_dro(
    scores: torch.Tensor,
    *,
    distance: ItemDistance | torch.Tensor,
    k: int,
    eps: float,
    tau: float = 1.0,
    exclude: torch.Tensor | None = None,
    offset: float = 0.0,
    top_m: int | Literal["auto"] | None = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""``(ddro(...), dro(...))`` of each row from one ranking pass: ``(B,)`` DDRO (eq. 9),
    differentiable in ``scores``, and ``(B,)`` DRO@k (eq. 5), without a graph.

    The windowed DDRO reads each row's best items in order (its excluded items pushed below the
    rest), so the first k of them are the hard top-k list: DRO@k costs one :func:`list_diversity`
    of them instead of a second top-k over the catalogue. Equal to the two calls up to the order of
    tied scores, which ``torch.topk`` breaks in its own way in each.
    """
    distance = as_item_distance(distance)
    soft = SoftTopK(k=k, eps=eps, tau=tau, offset=offset)
    values, best = _ddro(scores, distance, soft, exclude=exclude, top_m=top_m)
    with torch.no_grad():
        if best is None or best.shape[1] < k:  # the full path, or a window narrower than k
            return values, dro(scores.detach(), distance=distance, k=k, exclude=exclude)
        return values, list_diversity(best[:, :k], distance)


def _ddro(
    scores: torch.Tensor,
    distance: ItemDistance | torch.Tensor,
    soft: SoftTopK,
    *,
    exclude: torch.Tensor | None,
    top_m: int | Literal["auto"] | None,
    regularization: str = "l2",
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:func:`ddro`'s values, and each row's window items in rank order (None on the full path)."""
    check_scores(scores)
    check_count("k", soft.k, scores.shape[1])
    _check_pairwise(soft.k)
    distance = as_item_distance(distance)
    check_distance(distance, scores)
    if exclude is not None:
        check_exclude(exclude, scores)
        check_candidates(exclude, soft.k)
    window = window_size(top_m, soft, m=scores.shape[1])
    if window is None or regularization != "l2":
        values = _ddro_full(scores, distance, soft, exclude=exclude, regularization=regularization)
        best = None
    else:
        values, best = _ddro_window(scores, distance, soft, exclude=exclude, window=window)
    low, high = distance.value_range
    return values.detach().clamp(low, high) + (values - values.detach()), best  # gradient: as is


def _check_pairwise(k: int) -> None:
    if isinstance(k, int) and not isinstance(k, bool) and k < 2:
        raise DivlibError(f"k must be >= 2 for a pairwise diversity; got {k}")


def _pair_mean(pair_sum: torch.Tensor, membership: torch.Tensor) -> torch.Tensor:
    """Eq. (9) from its numerator: ``pair_sum`` over the soft pair count of ``membership`` (B, n)."""
    before = torch.nn.functional.pad(membership.cumsum(dim=1)[:, :-1], (1, 0))  # Σ_{j<i} l_j
    pairs = 2 * (membership * before).sum(dim=1)  # soft k(k - 1), without cancellation
    return pair_sum / pairs.clamp_min(DENOMINATOR_FLOOR)


def _ddro_full(
    scores: torch.Tensor,
    distance: ItemDistance,
    soft: SoftTopK,
    *,
    exclude: torch.Tensor | None,
    regularization: str = "l2",
) -> torch.Tensor:
    """DDRO with the soft rank over the whole catalogue, ranked in float64 as the window is."""
    membership = soft_topk(
        scores.double(),
        k=soft.k,
        eps=soft.eps,
        tau=soft.tau,
        offset=soft.offset,
        exclude=exclude,
        regularization=regularization,
    ).to(scores.dtype)  # (B, m)
    return _pair_mean(distance.pair_sum(membership), membership)


def _ddro_window(
    scores: torch.Tensor,
    distance: ItemDistance,
    soft: SoftTopK,
    *,
    exclude: torch.Tensor | None,
    window: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """DDRO over each row's best items up to its certified cut, uncertified rows in full; and the
    ``(B, W)`` items of every row's window, best first."""
    top = top_window(scores, soft, window=window, exclude=exclude)
    values = _pair_mean(distance.pair_sum(top.membership, items=top.items), top.membership)
    if top.exact.all():
        return values, top.items
    rows = (~top.exact).nonzero().flatten()
    row_exclude = None if exclude is None else exclude[rows]
    redone = _ddro_full(scores[rows], distance, soft, exclude=row_exclude)
    return values.index_put((rows,), redone), top.items
