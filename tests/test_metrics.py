"""Metrics on hand-worked examples; evaluation windows against divlib.objectives.dro; summaries by hand."""

import math

import polars as pl
import pytest
import torch

from divlib import DivlibError
from divlib.metrics import (
    average_popularity,
    category_coverage,
    list_diversity,
    precision_recall_ndcg,
    predicted_relevance_share,
    rank_test_items,
)
from divlib.similarity import DenseDistance, GroupedDistance
from divlib.study.evaluation import EvaluationData, evaluate_lists, summarize

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
