r"""Per-user metrics of ranked lists, batched over users: diversity, coverage, relevance, popularity.

Every function takes ``lists``, a ``(B, K)`` int64 tensor of item ids in rank order (a model's top-K from
:func:`divlib.ranking.topk_items`, or a re-ranker's selection), and returns one value per user, ``(B,)``.
Windows of a longer list are plain slices: ``lists[:, :k]`` are ranks 1..k, ``lists[:, k:2*k]`` the
paper's "k+1 ∼ 2k".

**Users without test positives.** Precision, recall, NDCG and hit rate are NaN for a user with no
positive test item: they are undefined there, and averages over users skip them (``nanmean``) and
report how many users counted. They are never averaged in as zeros.

**Names.** :data:`METRICS` is the vocabulary of every metric column of the evaluation frames
(:func:`divlib.evaluation.evaluate_lists` and the gains and p-values of
:func:`divlib.evaluation.summarize`): key → label template, ``{k}`` the list length
(:func:`metric_label`); :func:`metric_name` is a metric's key at k in metrics files (``dro@10``) and
:data:`REPORTED` the metrics that ``metrics/D/M/evaluate.json`` holds, in its order.
"""

import math

import torch

from divlib.errors import DivlibError
from divlib.similarity import ItemDistance

POSITIVE_RATING = 4.0  # test ratings at or above this are positives (the paper: "rated above 4")

METRICS: dict[str, str] = {
    "dro": "DRO@{k}",
    "dro_beyond": "DRO, ranks {k}+1..2·{k}",
    "coverage": "coverage@{k}",
    "coverage_beyond": "coverage, ranks {k}+1..2·{k}",
    "relevance": "relevance@{k}",
    "precision": "precision@{k}",
    "recall": "recall@{k}",
    "ndcg": "NDCG@{k}",
    "popularity": "popularity@{k}",
    "hr": "HR@{k} (test items)",
    "precision_test": "precision@{k} (test items)",
    "recall_test": "recall@{k} (test items)",
    "dro_gain": "DRO@{k} gain",
    "dro_beyond_gain": "DRO gain, ranks {k}+1..2·{k}",
    "coverage_gain": "coverage@{k} gain",
    "relevance_gain": "relevance@{k} gain",
    "dro_gain_pct": "DRO@{k} gain (%)",
    "dro_beyond_gain_pct": "DRO gain (%), ranks {k}+1..2·{k}",
    "coverage_gain_pct": "coverage@{k} gain (%)",
    "relevance_gain_pct": "relevance@{k} gain (%)",
    "dro_p": "DRO@{k} Wilcoxon p",
    "dro_beyond_p": "DRO Wilcoxon p, ranks {k}+1..2·{k}",
    "coverage_p": "coverage@{k} Wilcoxon p",
    "relevance_p": "relevance@{k} Wilcoxon p",
}
REPORTED: tuple[str, ...] = (
    "dro", "dro_beyond", "coverage", "relevance", "precision", "recall", "ndcg", "hr", "popularity",
    "dro_gain_pct", "dro_beyond_gain_pct", "relevance_gain", "dro_p",
)  # fmt: skip


def metric_name(key: str, k: int) -> str:
    """A metric's key at ``k`` in metrics files: ``metric_name("dro", 10) == "dro@10"``."""
    return f"{_known(key)}@{k}"


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


def category_coverage(lists: torch.Tensor, categories: torch.Tensor) -> torch.Tensor:
    r"""Share of all categories that the list's items cover: :math:`|\bigcup_{i \in L} C(i)| / |C|`.

    Args:
        categories: ``(m, c)`` 0/1 item × category matrix.
    """
    _check_lists(lists)
    covered = categories[lists].amax(dim=1) > 0  # (B, c)
    return covered.float().mean(dim=1)


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
    hits = positives.gather(1, lists).float()  # (B, k)
    n_positive = positives.sum(dim=1)
    discount = 1.0 / torch.log2(torch.arange(2, k + 2, device=lists.device, dtype=torch.float32))
    ideal = discount.cumsum(0)[(n_positive.clamp(1, k) - 1)]
    undefined = n_positive == 0
    return {
        "precision": (hits.sum(dim=1) / k).masked_fill(undefined, math.nan),
        "recall": (hits.sum(dim=1) / n_positive.clamp_min(1)).masked_fill(undefined, math.nan),
        "ndcg": ((hits * discount).sum(dim=1) / ideal).masked_fill(undefined, math.nan),
    }


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
    if scores.shape != test_ratings.shape:
        raise DivlibError(
            f"scores {tuple(scores.shape)} and test_ratings {tuple(test_ratings.shape)} differ in shape"
        )
    is_test = ~torch.isnan(test_ratings)
    positive = test_ratings >= POSITIVE_RATING  # NaN compares False
    k = min(k, scores.shape[1])
    top = scores.masked_fill(~is_test, -math.inf).topk(k, dim=1).indices
    listed = is_test.gather(1, top)  # False past a user's last test item
    hits = (positive.gather(1, top) & listed).sum(dim=1).float()
    n_positive = positive.sum(dim=1)
    undefined = n_positive == 0
    return {
        "hr": (hits > 0).float().masked_fill(undefined, math.nan),
        "precision_test": (hits / listed.sum(dim=1).clamp_min(1)).masked_fill(undefined, math.nan),
        "recall_test": (hits / n_positive.clamp_min(1)).masked_fill(undefined, math.nan),
    }


def average_popularity(lists: torch.Tensor, popularity: torch.Tensor) -> torch.Tensor:
    """Average recommendation popularity (ARP): the mean training-rating count of the listed items.

    Args:
        popularity: ``(m,)`` number of training ratings of each item.
    """
    _check_lists(lists)
    return popularity.float()[lists].mean(dim=1)


def _check_lists(lists: torch.Tensor) -> int:
    if lists.dim() != 2 or lists.dtype != torch.int64:
        raise DivlibError(
            f"lists must be a (B, k) int64 tensor of item ids; got {tuple(lists.shape)} {lists.dtype}"
        )
    return lists.shape[1]
