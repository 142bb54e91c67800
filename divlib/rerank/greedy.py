r"""The batched greedy re-rankers of a candidate pool.

A model's top-N list per user (:func:`candidate_pool`) is re-ranked greedily by

* :func:`mmr`, maximal marginal relevance (Carbonell & Goldstein 1998),
* :func:`dum`, diversity by uncovered categories (Ashkan et al. 2015),
* :func:`dpp`, greedy MAP inference of a determinantal point process (Chen et al. 2018),

with the conventions of :mod:`divlib.rerank`: ``(B, N)`` relevance, ``(B, N, N)`` similarity,
``(B, k)`` int64 candidate positions in selection order, ties to the lower position.
"""

import torch

from divlib._validate import (
    check_candidates,
    check_count,
    check_exclude,
    check_pool_categories,
    check_pool_similarity,
    check_range,
    check_relevance,
    check_scores,
)
from divlib.errors import DivlibError
from divlib.rerank._loops import greedy_map, greedy_mmr


def candidate_pool(
    scores: torch.Tensor, exclude: torch.Tensor, n: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``n`` highest-scoring items per row that are not excluded, best first.

    Args:
        scores: ``(B, m)`` finite float scores over the catalogue.
        exclude: ``(B, m)`` bool, ``True`` for items that must not be candidates (training items).
        n: pool size.

    Returns:
        ``(relevance, items)``: ``(B, n)`` scores sorted descending and their ``(B, n)`` int64 item
        ids.

    Raises:
        DivlibError: a row has fewer than ``n`` items that are not excluded.
    """
    check_scores(scores)
    check_exclude(exclude, scores)
    check_count("n", n, None)
    check_candidates(exclude, n)
    relevance, items = scores.masked_fill(exclude, float("-inf")).topk(n, dim=1)
    return relevance, items


def mmr(relevance: torch.Tensor, similarity: torch.Tensor, k: int, lam: float) -> torch.Tensor:
    r"""Maximal marginal relevance: the first pick is :math:`\arg\max_i r_i`, then greedily

    .. math:: \arg\max_{i \notin Y} \; \lambda\, \hat r_i - (1 - \lambda) \max_{j \in Y} S_{ij}

    with :math:`\hat r_i = (r_i - \min r) / (\max r - \min r)` per user. Ratings and similarities
    live on different scales, so relevance is min-max scaled to [0, 1] over the user's pool before
    the trade-off; a row of constant relevance scales to all zeros. ``lam=1`` returns the pool in
    relevance order.

    Args:
        relevance: ``(B, N)`` candidate scores.
        similarity: ``(B, N, N)`` symmetric candidate similarities in [0, 1] (row j is read as
            :math:`S_{\cdot j}`).
        k: list length, ``1 <= k <= N``.
        lam: relevance weight λ in [0, 1].

    Returns:
        ``(B, k)`` int64 candidate positions in selection order.
    """
    check_relevance(relevance, k)
    check_pool_similarity(similarity, relevance)
    check_range("lam", lam, 0.0, 1.0)
    similarity = similarity.to(relevance.dtype).contiguous()
    return greedy_mmr(relevance, lam * _min_max(relevance), similarity, k, lam)


def dum(relevance: torch.Tensor, categories: torch.Tensor, k: int) -> torch.Tensor:
    r"""Diversity by uncovered categories (DUM): walk the pool in relevance order and take a
    candidate when it covers a category that no taken candidate covers,

    .. math:: y_t = \min \{\, i \notin Y : C_i \not\subseteq \textstyle\bigcup_{j \in Y} C_j \,\}
              \quad\text{(candidates in descending relevance)},

    then fill the list up to k with the most relevant candidates not yet taken, in relevance order.

    Computed as k greedy steps: the walk's next taken candidate is the most relevant one that adds a
    category; once none does, none will (coverage only grows), and each further step takes the most
    relevant remaining candidate, which is the fill. Category sets are packed into 31-bit words, so
    a step costs O(N·⌈C/31⌉) per user.

    Args:
        relevance: ``(B, N)`` candidate scores.
        categories: ``(B, N, C)`` bool, each candidate's categories.
        k: list length, ``1 <= k <= N``.

    Returns:
        ``(B, k)`` int64 candidate positions in selection order.
    """
    check_relevance(relevance, k)
    check_pool_categories(categories, relevance)
    batch, n, n_categories = categories.shape
    flags = categories.view(torch.uint8)
    bits = flags.new_zeros(batch, n, -(-n_categories // 31), dtype=torch.int32)  # 31-bit words
    for c in range(n_categories):
        bits[:, :, c // 31].add_(flags[:, :, c], alpha=1 << (c % 31))
    if (relevance[:, 1:] <= relevance[:, :-1]).all():  # the usual sorted pool: skip the sort
        order = torch.arange(n, device=relevance.device).expand(batch, n)
    else:  # stable: ties to the lower position
        order = relevance.argsort(dim=1, descending=True, stable=True)
        bits = bits.gather(1, order[:, :, None].expand_as(bits))
    rows = torch.arange(batch, device=relevance.device)
    covered = torch.zeros_like(bits[:, 0])  # (B, words)
    open_ = torch.ones(batch, n, device=relevance.device)  # 1 until taken, then 0
    picks = []
    for _ in range(k):
        novel = (bits & ~covered[:, None, :]).ne(0).any(dim=2)  # (B, N) adds a category
        key = novel.view(torch.uint8).to(open_.dtype) + open_  # 2 adds a category, 1 open, 0 taken
        pick = key.max(dim=1).indices
        open_[rows, pick] = 0
        covered |= bits[rows, pick]
        picks.append(pick)
    return order.gather(1, torch.stack(picks, dim=1))


def dpp(
    relevance: torch.Tensor, similarity: torch.Tensor, k: int, theta: float | None = None
) -> torch.Tensor:
    r"""Greedy MAP inference of a DPP with kernel
    :math:`L = \mathrm{diag}(q)\, S\, \mathrm{diag}(q)` by incremental Cholesky (Chen, Zhang & Zhou
    2018, Algorithm 1): each step picks

    .. math:: j = \arg\max_{i \notin Y} \log\det L_{Y \cup \{i\}} = \arg\max_{i \notin Y} d_i^2,

    then updates, for every candidate i,

    .. math:: e_i = (L_{ji} - \langle c_j, c_i \rangle) / d_j, \qquad c_i \leftarrow (c_i, e_i),
              \qquad d_i^2 \leftarrow d_i^2 - e_i^2,

    from :math:`d_i^2 = L_{ii}` and empty :math:`c_i`; O(k²N) per user.

    Quality: with ``theta=None``, :math:`q = r` (the relevance must be > 0, e.g. predicted
    ratings). With ``theta`` θ in [0, 1), Chen et al.'s trade-off kernel
    :math:`q_i = \exp(\alpha \hat r_i)`, :math:`\alpha = \theta / (2(1 - \theta))`, with
    :math:`\hat r` the relevance min-max scaled per user to [0, 1] as in :func:`mmr`; θ = 0 ignores
    relevance. It is computed as :math:`\exp(\alpha (\hat r_i - 1)) \le 1`, which scales every
    :math:`\det L_Y` with :math:`|Y| = t` by the same factor and so selects the same items, without
    overflow at θ near 1.

    Once every remaining :math:`d_i^2 \le \text{tol} \cdot \max_i L_{ii}` (the kernel's rank is
    spent; tol = 1e-10 in float64, 100 float32 epsilons ≈ 1.2e-5 in float32), the row is filled with
    the remaining candidates in relevance order.

    Args:
        relevance: ``(B, N)`` candidate scores; > 0 when ``theta`` is None.
        similarity: ``(B, N, N)`` symmetric positive semi-definite candidate similarities in
            [0, 1].
        k: list length, ``1 <= k <= N``.
        theta: relevance–diversity trade-off θ in [0, 1), or None for ``q = relevance``.

    Returns:
        ``(B, k)`` int64 candidate positions in selection order.
    """
    check_relevance(relevance, k)
    check_pool_similarity(similarity, relevance)
    if theta is None:
        if not (relevance > 0).all():
            raise DivlibError(
                "dpp with theta=None uses relevance as the kernel's quality and needs it > 0; "
                "pass theta in [0, 1) (any scores), or shift the relevance"
            )
        quality = relevance
    else:
        check_range("theta", theta, 0.0, 1.0)
        if theta == 1:
            raise DivlibError("theta must be below 1 (α = θ/(2(1−θ)) is infinite there); got 1")
        alpha = theta / (2 * (1 - theta))
        quality = torch.exp(alpha * (_min_max(relevance) - 1))
    similarity = similarity.to(relevance.dtype).contiguous()
    gain = quality * similarity.diagonal(dim1=1, dim2=2) * quality  # d_i^2 = L_ii
    tol = max(1e-10, 100 * torch.finfo(relevance.dtype).eps) * gain.amax(dim=1)  # (B,)
    return greedy_map(quality, similarity, gain, relevance, tol, k)[0]


def _min_max(relevance: torch.Tensor) -> torch.Tensor:
    """Per-row min-max scaling to [0, 1]; a constant row gives zeros."""
    low = relevance.amin(dim=1, keepdim=True)
    spread = relevance.amax(dim=1, keepdim=True) - low
    return torch.where(
        spread > 0, (relevance - low) / spread.clamp_min(torch.finfo(spread.dtype).tiny), 0.0
    )
