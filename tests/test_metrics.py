"""Metrics on hand-worked examples; evaluation windows against divlib.objectives.dro; summaries by hand."""

import math

import polars as pl
import pytest
import torch

from divlib import DivlibError
from divlib.metrics import (
    aggregate_diversity,
    average_popularity,
    category_coverage,
    exposure_entropy,
    gini_index,
    item_coverage,
    item_exposure,
    list_diversity,
    precision_recall_ndcg,
    predicted_relevance_share,
    prefix_exposure,
    rank_test_items,
)
from divlib.similarity import DenseDistance, GroupedDistance
from divlib.study.evaluation import EvaluationData, evaluate_lists, summarize
from tests.reference import brute_exposure, brute_gini

CATEGORIES = torch.tensor([[1, 0, 0], [1, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=torch.float32)


def test_list_diversity_is_the_mean_distance_of_distinct_pairs():
    matrix = torch.tensor(
        [[0, 0.2, 0.9, 0.4], [0.2, 0, 0.5, 0.7], [0.9, 0.5, 0, 1], [0.4, 0.7, 1, 0]]
    )
    lists = torch.tensor([[0, 1, 2], [3, 2, 1]])
    expected = torch.tensor([(0.2 + 0.9 + 0.5) / 3, (1 + 0.7 + 0.5) / 3])
    assert torch.allclose(list_diversity(lists, DenseDistance(matrix)), expected)
    with pytest.raises(DivlibError, match=">= 2 items"):
        list_diversity(lists[:, :1], DenseDistance(matrix))


def test_category_coverage_counts_the_union_of_categories():
    lists = torch.tensor([[0, 3], [0, 1], [1, 2]])
    assert category_coverage(lists, CATEGORIES).tolist() == pytest.approx([1 / 3, 2 / 3, 1.0])


def test_predicted_relevance_share_thresholds_at_3_924():
    predicted = torch.tensor([[3.9, 3.95, 5.0, 1.0]])  # σ(1.5(r − 3)) > 0.8 ⇔ r > 3 + ln 4 / 1.5
    assert predicted_relevance_share(predicted).item() == 0.5


def test_precision_recall_ndcg_by_hand():
    positives = torch.zeros(2, 6, dtype=torch.bool)
    positives[0, [1, 4]] = True  # user 1 has no positives
    lists = torch.tensor([[4, 0, 1], [4, 0, 1]])
    result = precision_recall_ndcg(lists, positives)
    dcg, ideal = 1 + 1 / math.log2(4), 1 + 1 / math.log2(3)
    assert result["precision"][0].item() == pytest.approx(2 / 3)
    assert result["recall"][0].item() == pytest.approx(1.0)
    assert result["ndcg"][0].item() == pytest.approx(dcg / ideal)
    assert all(math.isnan(value[1].item()) for value in result.values())


def test_rank_test_items_ranks_only_test_items():
    scores = torch.tensor([[0.1, 9.0, 0.9, 9.0, 9.0, 0.5]])  # items 1, 3, 4 are not test items
    test_ratings = torch.full((1, 6), math.nan)
    test_ratings[0, [0, 2, 5]] = torch.tensor([5.0, 2.0, 4.0])
    top2 = rank_test_items(scores, test_ratings, k=2)  # list [2, 5]: one positive of {0, 5}
    assert (top2["hr"].item(), top2["precision_test"].item(), top2["recall_test"].item()) == (
        1,
        0.5,
        0.5,
    )
    top5 = rank_test_items(scores, test_ratings, k=5)  # all three test items listed
    assert top5["precision_test"].item() == pytest.approx(2 / 3) and top5["recall_test"].item() == 1
    no_positive = rank_test_items(scores, torch.where(test_ratings >= 4, 1.0, test_ratings), k=2)
    assert math.isnan(no_positive["hr"].item())


def test_average_popularity():
    assert average_popularity(torch.tensor([[0, 2]]), torch.tensor([4, 0, 10])).item() == 7.0


def test_aggregate_diversity_by_hand():
    lists = torch.tensor([[0, 1], [0, 2], [0, 1]])  # 3 users, k = 2, m = 5
    # exposure: item 0 three times, item 1 twice, item 2 once, items 3 and 4 never; 6 slots
    assert item_exposure(lists, n_items=5).tolist() == [3, 2, 1, 0, 0]
    # ascending counts 0, 0, 1, 2, 3 with weights 2i − m − 1 = −4, −2, 0, 2, 4: 0 + 0 + 0 + 4 + 12
    # = 16, over m · Σx = 5 · 6: G = 16/30; the pairwise form: Σ_ij |x_i − x_j| = 2 · (1 + 2 + 3
    # twice, for the two zeros, + 1 + 2 + 1) = 32, over 2 · 5 · 6
    # entropy: p = 3/6, 2/6, 1/6: −(½ ln ½ + ⅓ ln ⅓ + ⅙ ln ⅙)
    entropy = math.log(2) / 2 + math.log(3) / 3 + math.log(6) / 6
    # top 1: item 0 in all three lists: coverage 1/5, G = (2·5 − 6) · 3 / (5 · 3) = 4/5, entropy 0
    assert aggregate_diversity(lists, n_items=5, ks=[1, 2]) == {
        1: pytest.approx({"item_coverage": 1 / 5, "gini": 4 / 5, "entropy": 0.0}),
        2: pytest.approx({"item_coverage": 3 / 5, "gini": 16 / 30, "entropy": entropy}),
    }
    assert brute_gini([3, 2, 1, 0, 0]) == pytest.approx(16 / 30)


def test_aggregate_diversity_matches_counting_and_the_pairwise_gini(gen):
    lists = torch.randint(0, 12, (7, 6), generator=gen)
    exposure = prefix_exposure(lists, n_items=15, ks=[1, 3, 6])  # items 12..14 are never listed
    for row, k in zip(exposure.tolist(), (1, 3, 6), strict=True):
        counts = brute_exposure(lists[:, :k].tolist(), 15)
        assert row == counts
        total = sum(counts)
        shares = [c / total for c in counts if c]
        expected = {
            "item_coverage": sum(c > 0 for c in counts) / 15,
            "gini": brute_gini(counts),
            "entropy": -sum(p * math.log(p) for p in shares),
        }
        assert aggregate_diversity(lists, n_items=15, ks=[k])[k] == pytest.approx(expected)


def test_aggregate_diversity_limits():
    m, k = 6, 2
    even = torch.tensor([[0, 1], [2, 3], [4, 5], [1, 0], [3, 2], [5, 4]])  # every item twice
    exposure = item_exposure(even, n_items=m)
    assert item_coverage(exposure).item() == 1
    assert gini_index(exposure).item() == pytest.approx(0.0, abs=1e-12)
    assert exposure_entropy(exposure).item() == pytest.approx(math.log(m))
    same = item_exposure(torch.tensor([[4, 2]] * 5), n_items=m)  # every user the same k items
    assert item_coverage(same).item() == pytest.approx(k / m)
    assert gini_index(same).item() == pytest.approx(1 - k / m)  # the most unequal k-item lists
    assert exposure_entropy(same).item() == pytest.approx(math.log(k))
    one = item_exposure(torch.tensor([[3]] * 4), n_items=m)  # one item takes every slot
    assert gini_index(one).item() == pytest.approx((m - 1) / m)


def test_gini_is_invariant_to_scale_and_item_order(gen):
    counts = torch.randint(0, 9, (20,), generator=gen)
    counts[0] = 1  # not all zero
    permuted = counts[torch.randperm(20, generator=gen)]
    assert gini_index(permuted).item() == pytest.approx(gini_index(counts).item())
    assert gini_index(3 * counts).item() == pytest.approx(gini_index(counts).item())
    assert exposure_entropy(3 * counts).item() == pytest.approx(exposure_entropy(counts).item())


def test_aggregate_diversity_rejects_ids_outside_the_catalogue_and_bad_ks():
    lists = torch.tensor([[0, 5]])
    with pytest.raises(DivlibError, match="n_items = 5"):
        item_exposure(lists, n_items=5)
    with pytest.raises(DivlibError, match="ks must lie in 1..2"):
        prefix_exposure(lists, n_items=6, ks=[3])


def evaluation_data(gen, users=5, items=30):
    categories = (torch.rand(items, 4, generator=gen) < 0.4).float()
    categories[categories.sum(1) == 0, 0] = 1
    test_ratings = torch.where(
        torch.rand(users, items, generator=gen) < 0.3,
        torch.randint(1, 6, (users, items), generator=gen).float(),
        math.nan,
    )
    return EvaluationData(
        distance=GroupedDistance.from_categories(categories),
        categories=categories,
        popularity=torch.randint(0, 50, (items,), generator=gen),
        positives=test_ratings >= 4,
        test_ratings=test_ratings,
    )


def test_evaluate_lists_windows_are_ranks_1_to_k_and_k_plus_1_to_2k(gen):
    data = evaluation_data(gen)
    scores = torch.randn(5, 30, generator=gen)
    lists = scores.topk(8, dim=1).indices
    frame = evaluate_lists(lists, scores.gather(1, lists), data, ks=[2, 4], scores=scores)
    assert frame.height == 10 and frame["k"].to_list() == [2] * 5 + [4] * 5
    matrix, order = data.distance.dense(), scores.argsort(dim=1, descending=True).tolist()
    for k in (2, 4):
        rows = frame.filter(pl.col("k") == k)
        for column, ranks in (("dro", range(k)), ("dro_beyond", range(k, 2 * k))):
            brute = [
                sum(matrix[row[i], row[j]].item() for i in ranks for j in ranks if i != j)
                / (k * (k - 1))
                for row in order
            ]  # the mean distance over distinct pairs of the window, by loops
            assert rows[column].to_list() == pytest.approx(brute)
    with pytest.raises(DivlibError, match="needs 10"):
        evaluate_lists(lists, scores.gather(1, lists), data, ks=[5])


def test_summarize_means_over_seeds_gains_and_pvalues():
    users = 12

    def run(method, param, seed, dro_value):
        return pl.DataFrame(
            {
                "k": [10] * users,
                "user": list(range(users)),
                "dro": [dro_value + 0.01 * u for u in range(users)],
                "dro_beyond": [0.5] * users,
                "coverage": [0.2] * users,
                "relevance": [0.8] * users,
                "recall": [math.nan] + [0.5] * (users - 1),
            }
        ).with_columns(
            method=pl.lit(method),
            param=pl.lit(param, dtype=pl.Float64),
            train_k=pl.lit(None if method == "base" else 10, dtype=pl.Int64),
            seed=pl.lit(seed, dtype=pl.Int64),
        )

    per_user = pl.concat(
        [
            run("base", None, 1, 0.4),
            run("base", None, 2, 0.4),
            run("ddt", 0.5, 1, 0.5),
            run("ddt", 0.5, 2, 0.7),
        ]
    )
    summary = summarize(per_user)
    ddt = summary.filter(pl.col("method") == "ddt").row(0, named=True)
    base_mean = 0.4 + 0.01 * 5.5
    assert ddt["dro"] == pytest.approx(base_mean + 0.2)
    assert ddt["dro_std"] == pytest.approx(0.2 / math.sqrt(2))  # sample std of the seed means
    assert ddt["dro_gain"] == pytest.approx(0.2)  # each seed against its own base: 0.1, 0.3
    assert ddt["dro_gain_std"] == pytest.approx(0.2 / math.sqrt(2))
    assert ddt["dro_gain_pct"] == pytest.approx(100 * 0.2 / base_mean)
    assert (ddt["seeds"], ddt["users"], ddt["users_with_positives"]) == (2, users, users - 1)
    assert ddt["recall"] == pytest.approx(0.5)  # the user without positives is skipped, not a 0
    assert 0 < ddt["dro_p"] < 0.01  # 12 users, all improved: Wilcoxon exact p = 2 / 2^12
    assert ddt["coverage_p"] is None  # no differences to test
    base = summary.filter(pl.col("method") == "base").row(0, named=True)
    assert base["dro_p"] is None and base["dro_gain"] == 0
