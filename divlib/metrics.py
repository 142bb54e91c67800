r"""Metrics of ranked lists, batched over users: per user (diversity, coverage, relevance, popularity)
and over all users' lists together (aggregate diversity: item coverage, Gini index and entropy of item
exposure).

Every per-user function takes ``lists``, a ``(B, K)`` int64 tensor of item ids in rank order (a model's top-K from
:func:`divlib.ranking.topk_items`, or a re-ranker's selection), and returns one value per user, ``(B,)``.
Windows of a longer list are plain slices: ``lists[:, :k]`` are ranks 1..k, ``lists[:, k:2*k]`` the
paper's "k+1 ∼ 2k". The evaluation reads every k from one lookup of a list's items:
:func:`window_diversity`, :func:`window_coverage`, :func:`hit_metrics` and :func:`rank_test_items_at`
give the single-k functions' values at several windows or ks at once.

**Aggregate diversity.** A per-list measure such as DRO cannot see that every user gets the same
items. :func:`item_exposure` counts how often each item of the catalogue is listed over all users
(:func:`prefix_exposure`: for the top k at several k from one pass), and :func:`item_coverage`,
:func:`gini_index` and :func:`exposure_entropy` read those counts (one value per list set, not per
user); :func:`aggregate_diversity` gives all three at several k.

**Users without test positives.** Precision, recall, NDCG and hit rate are NaN for a user with no
positive test item: they are undefined there, and averages over users skip them (``nanmean``) and
report how many users counted. They are never averaged in as zeros.

**Names.** :data:`METRICS` is the vocabulary of every metric column of the evaluation frames
(the study's per-user evaluation and its gains and p-values): key → label template, ``{k}`` the list length
(:func:`metric_label`).
"""

import math
from collections.abc import Sequence

import torch

from divlib.errors import DivlibError
from divlib.similarity import ItemDistance

POSITIVE_RATING = 4.0  # test ratings at or above this are positives (the paper: "rated above 4")

METRICS: dict[str, str] = {
    "dro": "DRO@{k}",
    "dro_beyond": "DRO, ranks {k}+1..2·{k}",
    "coverage": "category coverage@{k}",
    "coverage_beyond": "category coverage, ranks {k}+1..2·{k}",
    "relevance": "predicted relevance@{k} (eq. 12)",
    "precision": "precision@{k}",
    "recall": "recall@{k}",
    "ndcg": "NDCG@{k}",
    "popularity": "popularity@{k}",
    "hr": "HR@{k} (test items)",
    "precision_test": "precision@{k} (test items)",
    "recall_test": "recall@{k} (test items)",
    "mse": "MSE (test ratings)",
    "item_coverage": "item coverage@{k}",
    "gini": "Gini@{k} (item exposure)",
    "entropy": "entropy@{k} (item exposure, nats)",
    "dro_gain": "DRO@{k} gain",
    "dro_beyond_gain": "DRO gain, ranks {k}+1..2·{k}",
    "coverage_gain": "category coverage@{k} gain",
    "relevance_gain": "predicted relevance@{k} gain",
    "dro_gain_pct": "DRO@{k} gain (%)",
    "dro_beyond_gain_pct": "DRO gain (%), ranks {k}+1..2·{k}",
    "coverage_gain_pct": "category coverage@{k} gain (%)",
    "relevance_gain_pct": "predicted relevance@{k} gain (%)",
    "dro_p": "DRO@{k} Wilcoxon p",
    "dro_beyond_p": "DRO Wilcoxon p, ranks {k}+1..2·{k}",
    "coverage_p": "category coverage@{k} Wilcoxon p",
    "relevance_p": "predicted relevance@{k} Wilcoxon p",
}


def metric_label(key: str, k: int | str) -> str:
    """A metric's label at ``k`` for figures and tables: ``metric_label("dro", 10) == "DRO@10"``."""
    return METRICS[_known(key)].format(k=k)


def _known(key: str) -> str:
    if key not in METRICS:
        raise DivlibError(f"unknown metric {key!r}; known metrics: {', '.join(METRICS)}")
    return key


def list_diversity(lists: torch.Tensor, distance: ItemDistance) -> torch.Tensor:
    r"""DRO of each list, eq. (5): the mean distance over its ordered pairs of distinct items.

    .. math:: \mathrm{DRO}(L) = \frac{1}{k(k-1)} \sum_{i \ne j \in L} D_{ij}
    """
    k = _check_lists(lists)
    if k < 2:
        raise DivlibError(f"a pairwise diversity needs lists of >= 2 items; got {k}")
    return distance.block(lists).sum(dim=(1, 2)) / (k * (k - 1))  # the diagonal D_ii is 0


def window_diversity(
    lists: torch.Tensor, matrix: torch.Tensor, windows: Sequence[tuple[int, int]]
) -> list[torch.Tensor]:
    r""":func:`list_diversity` of each window ``(a, b)``, ranks a+1..b, of ``lists``.

    ``lists`` index the rows and columns of the distance ``matrix``: item ids into
    :meth:`ItemDistance.dense`, or group ids into the group matrix of :func:`distance_groups`. Every pair
    of ranks i < j that shares a window is looked up once, and each window sums its own pairs:

    .. math:: \mathrm{DRO}(L_{a+1..b}) = \frac{2}{k(k-1)} \sum_{a \le i < j < b} D_{l_i l_j},
              \qquad k = b - a
    """
    _check_lists(lists)
    if any(b - a < 2 for a, b in windows):
        raise DivlibError(f"a pairwise diversity needs windows of >= 2 items; got {list(windows)}")
    ranks = torch.arange(max(b for _, b in windows), device=lists.device)
    inside = torch.stack(
        [
            (ranks[:, None] < ranks[None, :]) & (ranks[:, None] >= a) & (ranks[None, :] < b)
            for a, b in windows
        ]
    )  # (W, L, L): the pairs i < j of each window
    first, second = inside.any(dim=0).nonzero(as_tuple=True)  # (P,) the pairs any window holds
    users, ids = lists.shape[0], lists.int()  # int32 indices: fewer bytes than int64, no copy
    flat = (ids * matrix.shape[1]).gather(1, first.expand(users, -1))
    flat += ids.gather(1, second.expand(users, -1))  # (B, P) positions in the flat matrix
    pairs = torch.nn.functional.embedding(flat, matrix.reshape(-1, 1)).squeeze(-1)  # (B, P)
    sums = pairs @ inside[:, first, second].T.to(pairs.dtype)  # (B, W)
    sizes = torch.tensor([(b - a) * (b - a - 1) / 2 for a, b in windows], device=lists.device)
    return list((sums / sizes).T)


def distance_groups(matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Items whose distances to every item are equal (rows and columns of the ``(m, m)`` ``matrix``)
    grouped: ``(m,)`` group ids g and the ``(G, G)`` distances between groups, so that
    :math:`D_{ij} = D^{G}_{g(i)\,g(j)}` exactly (items with one category set form one group), and a
    small matrix serves :func:`window_diversity`."""
    keys = torch.cat([matrix, matrix.T], dim=1)
    unique, groups = torch.unique(keys, dim=0, return_inverse=True)
    items = torch.arange(matrix.shape[0], device=matrix.device)
    first = torch.full((unique.shape[0],), matrix.shape[0], device=matrix.device).scatter_reduce(
        0, groups, items, "amin"
    )  # one item of each group
    return groups, matrix[first][:, first]


def category_coverage(lists: torch.Tensor, categories: torch.Tensor) -> torch.Tensor:
    r"""Share of all categories that the list's items cover: :math:`|\bigcup_{i \in L} C(i)| / |C|`.

    Args:
        categories: ``(m, c)`` 0/1 item × category matrix.
    """
    return window_coverage(lists, categories, [(0, _check_lists(lists))])[0]


def window_coverage(
    lists: torch.Tensor, categories: torch.Tensor, windows: Sequence[tuple[int, int]]
) -> list[torch.Tensor]:
    """:func:`category_coverage` of each window ``(a, b)``, ranks a+1..b, of ``lists``, from one running
    count per category over the ranks: a window covers a category if its count grows inside it."""
    _check_lists(lists)
    # (B, K, c): how many of ranks 1..r hold an item of the category
    counts = (categories > 0).float()[lists].cumsum(dim=1)
    return [
        ((counts[:, b - 1] - (counts[:, a - 1] if a else 0)) > 0).float().mean(dim=1)
        for a, b in windows
    ]


def item_exposure(lists: torch.Tensor, *, n_items: int) -> torch.Tensor:
    """``(m,)`` int64: how many of the ``(B, k)`` ``lists`` hold each of the ``n_items`` items (its
    exposure count; 0 for an item never listed)."""
    return prefix_exposure(lists, n_items=n_items, ks=[_check_lists(lists)])[0]


def prefix_exposure(lists: torch.Tensor, *, n_items: int, ks: Sequence[int]) -> torch.Tensor:
    """``(len(ks), m)`` int64: :func:`item_exposure` of the top k of every list (``lists[:, :k]``), for
    each k of ``ks``, from one count per rank and item, summed over the ranks."""
    length = _check_lists(lists)
    if lists.numel() and not 0 <= int(lists.min()) <= int(lists.max()) < n_items:
        raise DivlibError(
            f"lists hold item ids {int(lists.min())}..{int(lists.max())}; the catalogue has "
            f"n_items = {n_items} (ids 0..{n_items - 1}); pass the catalogue's size"
        )
    if not all(1 <= k <= length for k in ks):
        raise DivlibError(f"ks must lie in 1..{length} (the lists' length); got {list(ks)}")
    ranks = torch.arange(length, device=lists.device)
    slots = (ranks * n_items + lists).flatten()  # one bin per (rank, item)
    counts = torch.bincount(slots, minlength=length * n_items).view(length, n_items)  # (K, m)
    at = torch.tensor([k - 1 for k in ks], device=lists.device)
    return counts.cumsum(dim=0)[at]  # (len(ks), m)


def item_coverage(exposure: torch.Tensor) -> torch.Tensor:
    r"""Catalogue (item) coverage: the share of the m items listed at least once,

    .. math:: \mathrm{ItemCoverage@k} = \frac{|\bigcup_{u \in U} L_u|}{|I|},

    RecBole's ``ItemCoverage`` (``recbole/evaluator/metrics.py``, RUCAIBox/RecBole 025bef6); Elliot's
    ``ItemCoverage`` (``elliot/evaluation/metrics/coverage/item_coverage``, sisinflab/elliot 0126926)
    reports the count :math:`|\bigcup_u L_u|`, not divided by :math:`|I|`. Not the per-list
    :func:`category_coverage`.

    Args:
        exposure: ``(..., m)`` exposure counts (:func:`item_exposure`). Returns ``(...)`` in [0, 1].
    """
    return (exposure > 0).double().mean(dim=-1)


def gini_index(exposure: torch.Tensor) -> torch.Tensor:
    r"""Gini index of item exposure over the whole catalogue: 0 when every item is listed equally
    often, :math:`(m - 1)/m` when one item takes every slot (lower is more even).

    With :math:`x_{(1)} \le \dots \le x_{(m)}` the exposure counts of all m items in ascending
    order, never-listed items (:math:`x = 0`) included,

    .. math:: G = \frac{\sum_{i=1}^{m} (2i - m - 1)\, x_{(i)}}{m \sum_{i=1}^{m} x_{(i)}}
                = \frac{\sum_{i=1}^{m} \sum_{j=1}^{m} |x_i - x_j|}{2 m \sum_{i=1}^{m} x_i},

    the mean absolute difference over twice the mean. This is RecBole's ``GiniIndex`` (formula and
    code, ``recbole/evaluator/metrics.py``, RUCAIBox/RecBole 025bef6: the counted items take the top
    ranks, the unlisted ones the bottom). All users given the same k items: :math:`G = 1 - k/m`.

    Note:
        Elliot's ``Gini`` (``elliot/evaluation/metrics/diversity/gini_index``, sisinflab/elliot
        0126926) normalises by :math:`m - 1` instead of m and reports the complement,
        :math:`1 - G\, m/(m - 1)` (higher is more even); it equals ours up to that map.

    Args:
        exposure: ``(..., m)`` exposure counts (:func:`item_exposure`), not all zero.
    """
    m = exposure.shape[-1]
    counts = exposure.double().sort(dim=-1).values  # ascending
    weights = 2 * torch.arange(1, m + 1, device=exposure.device, dtype=counts.dtype) - m - 1
    return (counts * weights).sum(dim=-1) / (m * counts.sum(dim=-1))


def exposure_entropy(exposure: torch.Tensor) -> torch.Tensor:
    r"""Shannon entropy of item exposure in nats: :math:`\ln m` when all m items are listed equally
    often, :math:`\ln k` when all users get the same k items, 0 for one item.

    .. math:: H = -\sum_{i \in I} p(i) \ln p(i), \qquad p(i) = \frac{x_i}{\sum_j x_j},

    :math:`x_i` the exposure count of item i (0 ln 0 = 0): the formula of RecBole's and Elliot's
    ``ShannonEntropy``/``SEntropy`` with the natural logarithm (as RecBole's code, ``np.log``).

    Note:
        RecBole's code (``recbole/evaluator/metrics.py``, RUCAIBox/RecBole 025bef6) divides this sum
        by the number of distinct listed items, which its formula does not; we do not. Elliot's
        (``elliot/evaluation/metrics/diversity/shannon_entropy``, sisinflab/elliot 0126926) is in
        bits: :math:`H / \ln 2` for lists of equal length.

    Args:
        exposure: ``(..., m)`` exposure counts (:func:`item_exposure`), not all zero.
    """
    counts = exposure.double()
    return torch.special.entr(counts / counts.sum(dim=-1, keepdim=True)).sum(dim=-1)  # -p ln p


AGGREGATE_METRICS = {
    "item_coverage": item_coverage,
    "gini": gini_index,
    "entropy": exposure_entropy,
}


def aggregate_diversity(
    lists: torch.Tensor, *, n_items: int, ks: Sequence[int]
) -> dict[int, dict[str, float]]:
    """The aggregate diversity of the top k of all ``(B, K)`` ``lists`` together, at every k of
    ``ks``: ``{k: {"item_coverage", "gini", "entropy"}}`` (:data:`AGGREGATE_METRICS`) over a
    catalogue of ``n_items`` items."""
    exposure = prefix_exposure(lists, n_items=n_items, ks=ks)  # (len(ks), m)
    values = {name: metric(exposure).tolist() for name, metric in AGGREGATE_METRICS.items()}
    return {k: {name: value[i] for name, value in values.items()} for i, k in enumerate(ks)}


def predicted_relevance_share(
    predicted: torch.Tensor, *, mu: float = 3.0, alpha: float = 1.5, threshold: float = 0.8
) -> torch.Tensor:
    r"""The paper's "Relevance" (eq. 12): the share of listed items whose *predicted* rating is likely liked.

    .. math:: \mathrm{Rel}(u) = \frac{1}{k} \sum_{i \in L_u} \mathbb{1}\big[\sigma(\alpha(\hat r_{ui} - \mu)) > \tau\big]

    with μ = 3, α = 1.5, τ = 0.8, i.e. r̂ > μ + ln(τ/(1−τ))/α ≈ 3.924. It is computed from the model's own
    predictions, not from held-out ratings; the ground-truth measures are :func:`precision_recall_ndcg`
    and :func:`rank_test_items`.

    Args:
        predicted: ``(B, k)`` predicted ratings of the listed items.
    """
    return (torch.sigmoid(alpha * (predicted - mu)) > threshold).float().mean(dim=1)


def precision_recall_ndcg(lists: torch.Tensor, positives: torch.Tensor) -> dict[str, torch.Tensor]:
    r"""Full-catalogue Precision, Recall and NDCG @k with binary relevance (the field's usual protocol).

    With :math:`P_u` the user's positive test items and :math:`L_u` the list (ranked over every item not
    in the user's training or validation data),

    .. math:: \mathrm{P@k} = \frac{|L_u \cap P_u|}{k}, \quad \mathrm{R@k} = \frac{|L_u \cap P_u|}{|P_u|},
              \quad \mathrm{NDCG@k} = \frac{\sum_{r=1}^{k} \mathbb{1}[L_{u,r} \in P_u] / \log_2(r+1)}
                                           {\sum_{r=1}^{\min(k, |P_u|)} 1 / \log_2(r+1)}

    Args:
        positives: ``(B, m)`` bool, the positive test items of each user.

    Returns:
        ``{"precision", "recall", "ndcg"}``, each ``(B,)``; NaN for users without positives.
    """
    k = _check_lists(lists)
    return hit_metrics(positives.gather(1, lists), positives.sum(dim=1), ks=[k])[k]


def hit_metrics(
    hits: torch.Tensor, n_positive: torch.Tensor, *, ks: Sequence[int]
) -> dict[int, dict[str, torch.Tensor]]:
    """:func:`precision_recall_ndcg` of the top k at every k of ``ks``, ``{k: metrics}``, from the
    ``(B, K)`` bool hits ``positives.gather(1, lists)`` (K >= max(ks)) and each user's number of
    positives ``(B,)``."""
    hits = hits[:, : max(ks)].float()
    undefined = n_positive == 0
    ranks = torch.arange(2, hits.shape[1] + 2, device=hits.device, dtype=torch.float32)
    discount = 1.0 / torch.log2(ranks)
    result = {}
    for k in ks:
        top = hits[:, :k].contiguous()  # a strided slice would take the slow reduction path
        found = top.sum(dim=1)
        ideal = discount[:k].cumsum(0)[(n_positive.clamp(1, k) - 1)]
        dcg = (top * discount[:k]).sum(dim=1)
        result[k] = {
            "precision": (found / k).masked_fill(undefined, math.nan),
            "recall": (found / n_positive.clamp_min(1)).masked_fill(undefined, math.nan),
            "ndcg": (dcg / ideal).masked_fill(undefined, math.nan),
        }
    return result


def rank_test_items(
    scores: torch.Tensor, test_ratings: torch.Tensor, *, k: int
) -> dict[str, torch.Tensor]:
    r"""The paper's HR, Precision and Recall @k: rank only each user's *test* items by predicted score.

    With :math:`T_u` the user's test items, :math:`L_u` the top-k of :math:`T_u` by score and
    :math:`P_u = \{i \in T_u : r_{ui} \ge 4\}`: HR = 1[|L_u ∩ P_u| > 0],
    Precision = |L_u ∩ P_u| / |L_u| with |L_u| = min(k, |T_u|), Recall = |L_u ∩ P_u| / |P_u|
    (the official ``acc_metric``; it counts users without positives as 0, we leave them NaN).

    Args:
        scores: ``(B, m)`` predicted scores; test_ratings: ``(B, m)`` test rating, NaN where none.
    """
    return rank_test_items_at(scores, test_ratings, ks=[k])[k]


def rank_test_items_at(
    scores: torch.Tensor, test_ratings: torch.Tensor, *, ks: Sequence[int]
) -> dict[int, dict[str, torch.Tensor]]:
    """:func:`rank_test_items` at every k of ``ks``, ``{k: metrics}``, from one ranking of the test
    items: each top-k is the prefix of the top-max(ks). The columns need not be the catalogue: each
    user's test items alone, NaN-padded, rank the same."""
    _check_same_shape(scores, test_ratings)
    is_test = ~torch.isnan(test_ratings)
    positive = test_ratings >= POSITIVE_RATING  # NaN compares False
    n_positive = positive.sum(dim=1)
    undefined = n_positive == 0
    top = scores.masked_fill(~is_test, -math.inf).topk(min(max(ks), scores.shape[1]), dim=1).indices
    hits = positive.gather(1, top).cumsum(dim=1).float()  # hits among the top 1, 2, … items
    listed = is_test.gather(1, top).cumsum(dim=1).clamp_min(1)  # stops at a user's last test item
    result = {}
    for k in ks:
        at = min(k, top.shape[1]) - 1
        result[k] = {
            "hr": (hits[:, at] > 0).float().masked_fill(undefined, math.nan),
            "precision_test": (hits[:, at] / listed[:, at]).masked_fill(undefined, math.nan),
            "recall_test": (hits[:, at] / n_positive.clamp_min(1)).masked_fill(undefined, math.nan),
        }
    return result


def rating_mse(scores: torch.Tensor, test_ratings: torch.Tensor) -> torch.Tensor:
    r"""Each user's mean squared error on their test ratings (the paper's Fig. 4 "MSE"):
    :math:`\frac{1}{|T_u|} \sum_{i \in T_u} (\hat r_{ui} - r_{ui})^2`; NaN for a user without test
    ratings.

    Args:
        scores: ``(B, m)`` predicted ratings; test_ratings: ``(B, m)`` test rating, NaN where none.
    """
    _check_same_shape(scores, test_ratings)
    return (scores - test_ratings).square().nanmean(dim=1)


def average_popularity(lists: torch.Tensor, popularity: torch.Tensor) -> torch.Tensor:
    """Average recommendation popularity (ARP): the mean training-rating count of the listed items.

    Args:
        popularity: ``(m,)`` number of training ratings of each item.
    """
    _check_lists(lists)
    return popularity.float()[lists].mean(dim=1)


def _check_same_shape(scores: torch.Tensor, test_ratings: torch.Tensor) -> None:
    if scores.shape != test_ratings.shape:
        raise DivlibError(
            f"scores {tuple(scores.shape)} and test_ratings {tuple(test_ratings.shape)} differ in shape"
        )


def _check_lists(lists: torch.Tensor) -> int:
    if lists.dim() != 2 or lists.dtype != torch.int64:
        raise DivlibError(
            f"lists must be a (B, k) int64 tensor of item ids; got {tuple(lists.shape)} {lists.dtype}"
        )
    return lists.shape[1]
