r"""Post-hoc diversity re-rankers: pick k of each user's N candidates, batched over users.

A model's top-N list per user (:func:`candidate_pool`) is re-ranked greedily by

* :func:`mmr`, maximal marginal relevance (Carbonell & Goldstein 1998),
* :func:`dum`, diversity by uncovered categories (Ashkan et al. 2015),
* :func:`dpp`, greedy MAP inference of a determinantal point process (Chen et al. 2018).

Conventions:

* ``relevance`` is ``(B, N)``: the candidates' predicted scores, one row per user.
* ``similarity`` is ``(B, N, N)`` with :math:`S_{ij} \in [0, 1]` between a user's candidates; for
  divlib's Jaccard distance D it is ``1 - distance.block(items)``.
* The result is ``(B, k)`` int64 *positions into the candidate axis*, in selection order; map them to
  item ids with ``items.gather(1, positions)``.
* Ties go to the lower candidate position (``Tensor.max(dim)`` returns the first maximum), i.e. to the
  more relevant candidate when the pool is sorted as :func:`candidate_pool` sorts it.

Every function loops over the k selection steps (and :func:`dum` over categories, to pack them), never
over users; it computes on the device of its inputs and is deterministic.

The paper's own runs (Table III, from EXPLORE's ``strategy/competitors.py``) re-rank every item the user
has not rated, not a pool, with the predicted ratings clipped to [1, 5] as relevance and no trade-off
grid: :func:`mmr_paper` (λ = 0.5, unscaled ratings) and :func:`dpp_paper` (kernel diag(r) S diag(r)).
They take one shared ``(m, m)`` similarity and an ``exclude`` mask and return item ids.

:func:`rerank_all` runs the whole trade-off grid for every user of a model, in batches of users, with
:func:`paper_rerankings`' two runs (:func:`divlib.study.evaluation.lists_frame` and
:func:`~divlib.study.evaluation.frame_lists` convert its lists to and from the long table of
``lists.parquet``).
"""

import logging
import math
from collections.abc import Sequence

import torch
from torch import nn

from divlib._validate import (
    check_candidates,
    check_count,
    check_exclude,
    check_finite,
    check_range,
    check_scores,
)
from divlib.errors import DivlibError
from divlib.similarity import ItemDistance

Run = tuple[str, float | None]  # (method, param): a re-ranker and its λ or θ (None for DUM)
RATING_RANGE = (1.0, 5.0)  # the paper's runs clip predicted ratings to it (EXPLORE's clip_min/max)
PAPER_LAMBDA = 0.5  # EXPLORE's MMR λ
PAPER_DPP_TOL = 1e-10  # EXPLORE's greedy MAP stops once max_i d_i² < this
PAPER_DPP_TIE = 1e-12  # d² within this times max_i L_ii of the best: a tie, to the lowest item id
PAPER_RUNS: tuple[Run, ...] = (("mmr-paper", PAPER_LAMBDA), ("dpp-paper", None))

log = logging.getLogger(__name__)


def candidate_pool(
    scores: torch.Tensor, exclude: torch.Tensor, n: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``n`` highest-scoring items per row that are not excluded, best first.

    Args:
        scores: ``(B, m)`` finite float scores over the catalogue.
        exclude: ``(B, m)`` bool, ``True`` for items that must not be candidates (training items).
        n: pool size.

    Returns:
        ``(relevance, items)``: ``(B, n)`` scores sorted descending and their ``(B, n)`` int64 item ids.

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

    with :math:`\hat r_i = (r_i - \min r) / (\max r - \min r)` per user. Ratings and similarities live on
    different scales, so relevance is min-max scaled to [0, 1] over the user's pool before the trade-off;
    a row of constant relevance scales to all zeros. ``lam=1`` returns the pool in relevance order.

    Args:
        relevance: ``(B, N)`` candidate scores.
        similarity: ``(B, N, N)`` symmetric candidate similarities in [0, 1] (row j is read as
            :math:`S_{\cdot j}`).
        k: list length, ``1 <= k <= N``.
        lam: relevance weight λ in [0, 1].

    Returns:
        ``(B, k)`` int64 candidate positions in selection order.
    """
    _check(relevance, k)
    _check_similarity(similarity, relevance)
    check_range("lam", lam, 0.0, 1.0)
    similarity = similarity.to(relevance.dtype).contiguous()
    return _greedy_mmr(relevance, lam * _min_max(relevance), similarity, k, lam)


def dum(relevance: torch.Tensor, categories: torch.Tensor, k: int) -> torch.Tensor:
    r"""Diversity by uncovered categories (DUM): walk the pool in relevance order and take a candidate
    when it covers a category that no taken candidate covers,

    .. math:: y_t = \min \{\, i \notin Y : C_i \not\subseteq \textstyle\bigcup_{j \in Y} C_j \,\}
              \quad\text{(candidates in descending relevance)},

    then fill the list up to k with the most relevant candidates not yet taken, in relevance order.

    Computed as k greedy steps: the walk's next taken candidate is the most relevant one that adds a
    category; once none does, none will (coverage only grows), and each further step takes the most
    relevant remaining candidate, which is the fill. Category sets are packed into 31-bit words, so a
    step costs O(N·⌈C/31⌉) per user.

    Args:
        relevance: ``(B, N)`` candidate scores.
        categories: ``(B, N, C)`` bool, each candidate's categories.
        k: list length, ``1 <= k <= N``.

    Returns:
        ``(B, k)`` int64 candidate positions in selection order.
    """
    _check(relevance, k)
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
    r"""Greedy MAP inference of a DPP with kernel :math:`L = \mathrm{diag}(q)\, S\, \mathrm{diag}(q)`
    by incremental Cholesky (Chen, Zhang & Zhou 2018, Algorithm 1): each step picks

    .. math:: j = \arg\max_{i \notin Y} \log\det L_{Y \cup \{i\}} = \arg\max_{i \notin Y} d_i^2,

    then updates, for every candidate i,

    .. math:: e_i = (L_{ji} - \langle c_j, c_i \rangle) / d_j, \qquad c_i \leftarrow (c_i, e_i),
              \qquad d_i^2 \leftarrow d_i^2 - e_i^2,

    from :math:`d_i^2 = L_{ii}` and empty :math:`c_i`; O(k²N) per user.

    Quality: with ``theta=None``, :math:`q = r` (the relevance must be > 0, e.g. predicted ratings).
    With ``theta`` θ in [0, 1), Chen et al.'s trade-off kernel :math:`q_i = \exp(\alpha \hat r_i)`,
    :math:`\alpha = \theta / (2(1 - \theta))`, with :math:`\hat r` the relevance min-max scaled per user
    to [0, 1] as in :func:`mmr`; θ = 0 ignores relevance. It is computed as
    :math:`\exp(\alpha (\hat r_i - 1)) \le 1`, which scales every :math:`\det L_Y` with :math:`|Y| = t`
    by the same factor and so selects the same items, without overflow at θ near 1.

    Once every remaining :math:`d_i^2 \le \text{tol} \cdot \max_i L_{ii}` (the kernel's rank is spent;
    tol = 1e-10 in float64, 100 float32 epsilons ≈ 1.2e-5 in float32), the row is filled with the
    remaining candidates in relevance order.

    Args:
        relevance: ``(B, N)`` candidate scores; > 0 when ``theta`` is None.
        similarity: ``(B, N, N)`` symmetric positive semi-definite candidate similarities in [0, 1].
        k: list length, ``1 <= k <= N``.
        theta: relevance–diversity trade-off θ in [0, 1), or None for ``q = relevance``.

    Returns:
        ``(B, k)`` int64 candidate positions in selection order.
    """
    _check(relevance, k)
    _check_similarity(similarity, relevance)
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
    return _greedy_map(quality, similarity, gain, relevance, tol, k)[0]


def mmr_paper(
    ratings: torch.Tensor,
    similarity: torch.Tensor,
    exclude: torch.Tensor,
    k: int,
    lam: float = PAPER_LAMBDA,
) -> torch.Tensor:
    r"""MMR as the paper ran it (EXPLORE's ``MMR``), over every item outside ``exclude``: with the
    predicted ratings clipped, :math:`r_i = \min(\max(\hat y_i, 1), 5)`, the first pick is
    :math:`\arg\max_i r_i`, then greedily

    .. math:: \arg\max_{i \notin Y} \; \lambda\, r_i - (1 - \lambda) \max_{j \in Y} S_{ij}

    with r *not* rescaled (1 to 5, against S in [0, 1]; unlike :func:`mmr`). Computed in float64, as
    EXPLORE's numpy. Ties go to the lowest item id (the first maximum, as ``np.argmax`` over EXPLORE's
    candidates in item order). EXPLORE's lists hold positions in its candidate array, not item ids (a
    bug once any item is excluded); this returns the item ids of the same selection.

    Args:
        ratings: ``(B, m)`` predicted ratings over the catalogue.
        similarity: ``(m, m)`` symmetric item similarities S = 1 − D in [0, 1], shared by all rows.
        exclude: ``(B, m)`` bool, the items that are not candidates (rated in training or validation).
        k: list length; every row needs at least k candidates.
        lam: relevance weight λ in [0, 1].

    Returns:
        ``(B, k)`` int64 item ids in selection order.
    """
    _check_catalogue(ratings, similarity, exclude, k)
    check_range("lam", lam, 0.0, 1.0)
    relevance = _clip(ratings)
    return _greedy_mmr(
        relevance.masked_fill(exclude, float("-inf")),
        (lam * relevance).masked_fill(exclude, float("-inf")),
        similarity.to(relevance.dtype),
        k,
        lam,
    )


def dpp_paper(
    ratings: torch.Tensor, similarity: torch.Tensor, exclude: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""DPP as the paper ran it (EXPLORE's ``DPP``): :func:`dpp`'s greedy MAP, in float64, over every
    item outside ``exclude``, with kernel :math:`L = \mathrm{diag}(r)\, S\, \mathrm{diag}(r)` on the
    clipped ratings :math:`r_i = \min(\max(\hat y_i, 1), 5)`: from :math:`d_i^2 = L_{ii}`, pick
    :math:`j = \arg\max_{i \notin Y} d_i^2`, then for every i

    .. math:: e_i = (L_{ji} - \langle c_j, c_i \rangle) / d_j, \qquad c_i \leftarrow (c_i, e_i),
              \qquad d_i^2 \leftarrow d_i^2 - e_i^2.

    EXPLORE stops once :math:`\max_{i \notin Y} d_i^2 < 10^{-10}` (the kernel's rank over the
    candidates is spent, e.g. each one left shares its category set with a pick), so its list can be
    shorter than k. Here such a list is *completed* to k with the remaining candidates in descending r,
    and the number of completed positions is returned. The stop is also tested at the first pick, where
    EXPLORE does not test it (:math:`L_{ii} = r_i^2 \ge 1` with :math:`S_{ii} = 1`, so it never stops
    there). Ties go to the lowest item id: in r, and in d², where candidates within
    :math:`10^{-12} \max_i L_{ii}` of the best count as tied. Candidates with the same clipped rating and
    equal or mirrored category sets tie exactly in exact arithmetic (common on real data: many films
    are "Drama" only), and rounding would break such a tie either way, in EXPLORE's ``np.dot`` too.

    Args:
        ratings: ``(B, m)`` predicted ratings over the catalogue.
        similarity: ``(m, m)`` symmetric positive semi-definite item similarities in [0, 1].
        exclude: ``(B, m)`` bool, the items that are not candidates (rated in training or validation).
        k: list length; every row needs at least k candidates.

    Returns:
        ``(items, completed)``: ``(B, k)`` int64 item ids in selection order, and ``(B,)`` int64 the
        number of trailing positions completed in relevance order (0 where the greedy MAP reached k).
    """
    _check_catalogue(ratings, similarity, exclude, k)
    relevance = _clip(ratings)
    similarity = similarity.to(relevance.dtype)
    gain = (relevance * similarity.diagonal() * relevance).masked_fill(exclude, float("-inf"))
    # EXPLORE's d² < 1e-10, as d² <= the float64 just below 1e-10
    tol = relevance.new_full(relevance.shape[:1], math.nextafter(PAPER_DPP_TOL, 0.0))
    tie = PAPER_DPP_TIE * gain.amax(dim=1)
    return _greedy_map(relevance, similarity, gain, relevance, tol, k, tie=tie)


def rerank_all(
    model: nn.Module,
    exclude: torch.Tensor,
    distance: ItemDistance,
    categories: torch.Tensor,
    *,
    pool: int,
    length: int,
    mmr_lambdas: Sequence[float],
    dpp_thetas: Sequence[float | None],
    users_per_batch: int = 1024,
    device: torch.device | str = "cpu",
    paper: bool = True,
) -> dict[Run, torch.Tensor]:
    r"""Re-rank every user's candidates with DUM, MMR at each λ and DPP at each θ, and (``paper``) add
    the paper's runs of :func:`paper_rerankings`.

    Per batch of users: the model's scores, the :func:`candidate_pool` of ``pool`` items outside
    ``exclude``, their similarities :math:`S = 1 - D` (``1 - distance.block(items)``) and category
    sets, then each re-ranker selects ``length`` of them.

    Args:
        model: a model with ``score_all(users) -> (B, m)`` scores; moved to ``device``.
        exclude: ``(n_users, m)`` bool, items that are never candidates (training and validation).
        distance: the item distance D; categories: ``(m, c)`` 0/1 item × category matrix.
        pool: candidates per user; length: list length, ``length <= pool``.
        mmr_lambdas: MMR's λ grid; dpp_thetas: DPP's θ grid (None: ``q = relevance``).
        users_per_batch: users per batch; bounds the ``(B, pool, pool)`` similarity blocks (the paper's
            runs batch users by :func:`paper_rerankings`' default).
        device: where to compute.
        paper: also return ``("mmr-paper", 0.5)`` and ``("dpp-paper", None)`` (:data:`PAPER_RUNS`).

    Returns:
        ``{(method, param): (n_users, length) int64 item ids}`` on the CPU, in the order dum, mmr
        (λ grid), dpp (θ grid), then mmr-paper and dpp-paper; DUM's and dpp-paper's param is None.
    """
    runs = [("dum", None)] + [("mmr", lam) for lam in mmr_lambdas]
    runs += [("dpp", theta) for theta in dpp_thetas]
    if len(set(runs)) < len(runs):
        raise DivlibError(f"the re-ranking grid repeats a setting: {runs}; list each λ and θ once")
    check_count("users_per_batch", users_per_batch, None)
    _check_items(exclude, distance, categories)
    model.to(device)
    exclude, distance, categories = exclude.to(device), distance.to(device), categories.to(device)
    selected = {run: [] for run in runs}
    with torch.no_grad():
        for users in torch.arange(exclude.shape[0], device=device).split(users_per_batch):
            relevance, items = candidate_pool(model.score_all(users), exclude[users], pool)
            similarity = 1 - distance.block(items)
            item_categories = categories[items] > 0
            for method, param in runs:
                positions = _select(method, param, relevance, similarity, item_categories, length)
                selected[method, param].append(items.gather(1, positions))
    lists = {run: torch.cat(parts).cpu() for run, parts in selected.items()}
    if paper:
        lists |= paper_rerankings(model, exclude, distance, length=length, device=device)
    return lists


def paper_rerankings(
    model: nn.Module,
    exclude: torch.Tensor,
    distance: ItemDistance,
    *,
    length: int,
    users_per_batch: int = 128,
    device: torch.device | str = "cpu",
) -> dict[Run, torch.Tensor]:
    r"""The paper's re-rankings (:data:`PAPER_RUNS`): :func:`mmr_paper` at λ = 0.5 and :func:`dpp_paper`
    of every user, over all items outside ``exclude``, with :math:`S = 1 - D` and the model's
    predicted ratings. Logs how many DPP lists stopped early and how many positions were completed.

    Args:
        model: a model with ``score_all(users) -> (B, m)`` predicted ratings; moved to ``device``.
        exclude: ``(n_users, m)`` bool, items that are never candidates (training and validation).
        distance: the item distance D.
        length: list length.
        users_per_batch: users per batch; bounds DPP's ``(B, length, m)`` float64 Cholesky rows.
        device: where to compute.

    Returns:
        ``{("mmr-paper", 0.5): items, ("dpp-paper", None): items}``, ``(n_users, length)`` int64 item
        ids on the CPU.
    """
    check_count("users_per_batch", users_per_batch, None)
    _check_items(exclude, distance)
    model.to(device)
    exclude = exclude.to(device)
    similarity = 1 - distance.to(device, torch.float64).dense()
    mmr_parts, dpp_parts, completed = [], [], []
    with torch.no_grad():
        for users in torch.arange(exclude.shape[0], device=device).split(users_per_batch):
            ratings = model.score_all(users)
            mmr_parts.append(mmr_paper(ratings, similarity, exclude[users], length, PAPER_LAMBDA))
            items, filled = dpp_paper(ratings, similarity, exclude[users], length)
            dpp_parts.append(items)
            completed.append(filled)
    completed = torch.cat(completed)
    log.info(
        "dpp-paper: %d of %d lists stopped early (max d² < %g); %d of %d positions completed in "
        "relevance order", int(completed.count_nonzero()), completed.numel(), PAPER_DPP_TOL,
        int(completed.sum()), completed.numel() * length,
    )  # fmt: skip
    mmr_run, dpp_run = PAPER_RUNS
    return {mmr_run: torch.cat(mmr_parts).cpu(), dpp_run: torch.cat(dpp_parts).cpu()}


def _select(
    method: str,
    param: float | None,
    relevance: torch.Tensor,
    similarity: torch.Tensor,
    categories: torch.Tensor,
    k: int,
) -> torch.Tensor:
    """The ``(B, k)`` candidate positions that re-ranker ``method`` at ``param`` selects."""
    if method == "dum":
        return dum(relevance, categories, k)
    if method == "mmr":
        return mmr(relevance, similarity, k, param)
    return dpp(relevance, similarity, k, theta=param)


def _greedy_mmr(
    first: torch.Tensor, base: torch.Tensor, similarity: torch.Tensor, k: int, lam: float
) -> torch.Tensor:
    """MMR's greedy loop: pick ``argmax first``, then ``argmax base - (1 - lam) max_{j in Y} S_ij``
    over the unpicked; ``first`` and ``base`` ``(B, N)`` are -inf off the candidates, ``similarity`` is
    as :func:`_rows` reads it. ``(B, k)`` positions along N."""
    pick = first.max(dim=1).indices
    picks = [pick]
    nearest = _rows(similarity, pick)  # max_{j in Y} S_ij
    for _ in range(k - 1):
        gain = base - (1 - lam) * nearest
        gain.scatter_(1, torch.stack(picks, dim=1), float("-inf"))
        pick = gain.max(dim=1).indices
        picks.append(pick)
        torch.maximum(nearest, _rows(similarity, pick), out=nearest)
    return torch.stack(picks, dim=1)


def _greedy_map(
    quality: torch.Tensor,
    similarity: torch.Tensor,
    gain: torch.Tensor,
    fill: torch.Tensor,
    tol: torch.Tensor,
    k: int,
    *,
    tie: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The greedy MAP loop of :func:`dpp` for ``L = diag(quality) S diag(quality)``, ``similarity`` as
    :func:`_rows` reads it; ``gain`` ``(B, N)``: the initial d² (``L_ii``), -inf off the candidates,
    updated in place. Once a row's best d² <= ``tol`` ``(B,)``, its remaining picks are the unpicked
    candidates in descending ``fill`` and its Cholesky updates are zero. ``tie`` ``(B,)``: pick the
    lowest position whose d² is within ``tie`` of the best (else the first maximum). Returns the
    ``(B, k)`` positions and the ``(B,)`` number of picks made by ``fill``."""
    batch, n = quality.shape
    rows = torch.arange(batch, device=quality.device)
    cholesky = quality.new_empty(batch, k - 1, n)  # row t: e_i of step t for every i
    picks = []
    completed = torch.zeros(batch, dtype=torch.int64, device=quality.device)
    for step in range(k):
        d2_pick, pick = gain.max(dim=1)
        spent = d2_pick <= tol  # (B,) the kernel's rank is spent: fill in `fill` order
        if tie is not None:
            pick = (gain >= (d2_pick - tie)[:, None]).to(torch.int32).argmax(dim=1)
            d2_pick = gain[rows, pick]
        any_spent = bool(spent.any())
        if any_spent:
            unpicked = fill.masked_fill(gain.isneginf(), float("-inf"))  # taken or excluded: -inf
            pick = torch.where(spent, unpicked.max(dim=1).indices, pick)
            completed += spent
        picks.append(pick)
        gain[rows, pick] = float("-inf")
        if step == k - 1:
            break
        update = _rows(similarity, pick).mul_(quality[rows, pick, None]).mul_(quality)  # L_ji
        done = cholesky[:, :step]  # (B, step, N)
        update -= torch.bmm(done[rows, :, pick][:, None, :], done).squeeze(1)  # - <c_j, c_i>
        update /= d2_pick.clamp_min(tol).sqrt()[:, None]
        if any_spent:
            update.masked_fill_(spent[:, None], 0.0)
        cholesky[:, step] = update
        gain -= update * update
    return torch.stack(picks, dim=1), completed


def _rows(matrices: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``matrices[b, index[b], :]`` for contiguous ``(B, N, N)`` matrices, or ``matrices[index[b], :]``
    for one shared ``(N, N)`` matrix, as a new ``(B, N)`` tensor."""
    if matrices.dim() == 2:
        return matrices.index_select(0, index)
    batch, n, _ = matrices.shape
    flat_index = torch.arange(batch, device=index.device) * n + index
    return matrices.view(batch * n, n).index_select(0, flat_index)


def _min_max(relevance: torch.Tensor) -> torch.Tensor:
    """Per-row min-max scaling to [0, 1]; a constant row gives zeros."""
    low = relevance.amin(dim=1, keepdim=True)
    spread = relevance.amax(dim=1, keepdim=True) - low
    return torch.where(
        spread > 0, (relevance - low) / spread.clamp_min(torch.finfo(spread.dtype).tiny), 0.0
    )


def _clip(ratings: torch.Tensor) -> torch.Tensor:
    """The paper's relevance: predicted ratings clipped to :data:`RATING_RANGE`, in float64."""
    return ratings.to(torch.float64).clamp(*RATING_RANGE)


def _check_catalogue(
    ratings: torch.Tensor, similarity: torch.Tensor, exclude: torch.Tensor, k: int
) -> None:
    """ratings (B, m) finite float; similarity (m, m) and exclude (B, m) bool on its device; each row has
    at least k >= 1 candidates."""
    check_scores(ratings)
    m = ratings.shape[1]
    if not isinstance(similarity, torch.Tensor):
        raise TypeError(f"similarity must be a torch.Tensor; got {type(similarity).__name__}")
    if similarity.shape != (m, m) or similarity.device != ratings.device:
        raise DivlibError(
            f"similarity must be the ({m}, {m}) item matrix on {ratings.device} to go with ratings "
            f"{tuple(ratings.shape)}; got {tuple(similarity.shape)} on {similarity.device}"
        )
    check_finite("similarity", similarity, "build it as 1 - distance.dense() of a finite distance")
    check_exclude(exclude, ratings)
    check_count("k", k, m)
    check_candidates(exclude, k)


def _check(relevance: torch.Tensor, k: int) -> None:
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


def _check_items(
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
    if not isinstance(categories, torch.Tensor):
        raise TypeError(f"categories must be a torch.Tensor; got {type(categories).__name__}")
    if categories.dim() != 2 or categories.shape[0] != m or categories.shape[1] == 0:
        raise DivlibError(
            f"categories must be the ({m}, C) item × category matrix with C >= 1; got "
            f"{tuple(categories.shape)}; load it from the same prepared dataset as exclude"
        )
    check_finite("categories", categories, "rebuild the item × category matrix")


def _check_similarity(similarity: torch.Tensor, relevance: torch.Tensor) -> None:
    """similarity (B, N, N) on the device of relevance (B, N), finite."""
    if not isinstance(similarity, torch.Tensor):
        raise TypeError(f"similarity must be a torch.Tensor; got {type(similarity).__name__}")
    shape = (*relevance.shape, relevance.shape[1])
    if similarity.shape != shape or similarity.device != relevance.device:
        raise DivlibError(
            f"similarity must have shape {shape} on {relevance.device} to go with relevance; got "
            f"{tuple(similarity.shape)} on {similarity.device}; pass 1 - distance.block(items)"
        )
    check_finite(
        "similarity", similarity, "build it as 1 - distance.block(items) of a finite distance"
    )
