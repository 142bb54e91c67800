"""The evaluation of models and re-rankings on a hand-worked example; every k's windows against
metrics computed window by window with loops; summaries' gains paired by seed and p-values by exact
enumeration, on hand-made frames; the metrics file's labels and keys; the metric vocabulary; the
re-ranked lists' long table and back."""

import itertools
import json
import math
from pathlib import Path

import polars as pl
import pytest
import torch
from projects import synthetic_project

from divlib import DenseDistance, DivlibError
from divlib.metrics import (
    METRICS,
    distance_groups,
    metric_label,
    window_diversity,
)
from divlib.models import build_model, load_model, save_model
from divlib.similarity import GroupedDistance
from divlib.study.evaluation import (
    Evaluation,
    EvaluationData,
    evaluate_baselines,
    evaluate_lists,
    evaluate_models,
    frame_lists,
    lists_frame,
    load_evaluation,
    load_runs,
    long_lists,
    rerank_baselines,
    run_means,
    summarize,
)
from divlib.study.layout import Layout
from divlib.study.params import Rerank

ROOT = Path(__file__).resolve().parents[1]

ITEMS = 10
SEEN = [{0, 1, 2}, {5, 6, 9}]  # rated in training or validation; the models score them highest
BASE_SCORES = [
    [9.0, 8.5, 8.0, 1.0, 3.9, 2.0, 0.5, 4.8, 1.5, 3.0],  # unseen by score: 7, 4, 9, 5, 8, 3, 6
    [2.5, 4.2, 0.1, 3.5, 1.0, 9.9, 9.7, 0.2, 4.0, 9.5],  # unseen by score: 1, 8, 3, 0, 4, 7, 2
]
TEST_RATINGS = [{9: 5.0, 3: 4.0, 6: 2.0}, {8: 4.0, 2: 3.0}]  # positives: ratings >= 4


class FixedScores(torch.nn.Module):
    """A model whose ``score_all`` reads a fixed ``(n_users, m)`` score table."""

    def __init__(self, scores):
        super().__init__()
        self.register_buffer("scores", torch.tensor(scores))

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        return self.scores[users]


def hand_data() -> tuple[EvaluationData, torch.Tensor]:
    """D_ij = |i − j| / 10, so a 2-item list's DRO is its items' gap / 10; item i has category i mod 3
    and popularity 2^i, so a 2-item list's popularity·2 spells its items in binary."""
    index = torch.arange(ITEMS, dtype=torch.float32)
    test_ratings = torch.full((2, ITEMS), math.nan)
    for user, ratings in enumerate(TEST_RATINGS):
        for item, rating in ratings.items():
            test_ratings[user, item] = rating
    data = EvaluationData(
        distance=DenseDistance((index[:, None] - index[None, :]).abs() / 10),
        categories=torch.nn.functional.one_hot(torch.arange(ITEMS) % 3).float(),
        popularity=2 ** torch.arange(ITEMS),
        positives=test_ratings >= 4,
        test_ratings=test_ratings,
    )
    seen = torch.zeros(2, ITEMS, dtype=torch.bool)
    for user, items in enumerate(SEEN):
        seen[user, sorted(items)] = True
    return data, seen


def listed(popularity: float, k: int) -> set[int]:
    """The items of a k-item list whose popularity (mean of 2^i) is ``popularity``."""
    total = round(popularity * k)
    return {item for item in range(ITEMS) if total >> item & 1}


def boosted(user: int, item: int, score: float) -> list[list[float]]:
    scores = [row[:] for row in BASE_SCORES]
    scores[user][item] = score
    return scores


def evaluated(device):
    """Both seeds' baselines (the same pretrained model, re-ranked), then two fine-tuned runs."""
    data, seen = hand_data()
    runs = (
        ({"method": "ddt", "param": 0.2, "train_k": 2, "seed": 1}, FixedScores(boosted(0, 3, 5.0))),
        ({"method": "ddt", "param": 0.8, "train_k": 2, "seed": 2}, FixedScores(boosted(0, 6, 6.0))),
    )  # a generator, as load_runs gives
    reranked = {
        ("mmr", 0.3): torch.tensor([[7, 9, 3, 8], [0, 3, 4, 7]]),
        ("dpp", 0.7): torch.tensor([[9, 3, 8, 6], [1, 7, 0, 4]]),
    }
    base = FixedScores(BASE_SCORES)
    evaluations = [
        evaluate_baselines(base, reranked, data, seen, seed=seed, ks=[2], device=device)
        for seed in (1, 2)
    ]
    evaluations.append(evaluate_models(runs, data, seen, ks=[2], device=device))
    return Evaluation(
        *(pl.concat(frames, how="diagonal_relaxed") for frames in zip(*evaluations, strict=True))
    )


def test_evaluation_ranks_only_unseen_items_by_hand(device):
    frame = evaluated(device).per_user
    baselines = ["base", "mmr", "dpp", "popular", "random"]  # then the anchors
    params = {"mmr": 0.3, "dpp": 0.7}
    assert frame.select("method", "param", "train_k", "seed").rows() == [
        *[(m, params.get(m), None, seed) for seed in (1, 2) for m in baselines for _ in (0, 1)],
        ("ddt", 0.2, 2, 1),
        ("ddt", 0.2, 2, 1),
        ("ddt", 0.8, 2, 2),
        ("ddt", 0.8, 2, 2),
    ]
    assert frame.schema["param"] == pl.Float64 and frame.schema["seed"] == pl.Int64
    anchors = frame.filter(pl.col("method").is_in(["popular", "random"]))
    assert anchors["hr"].null_count() == anchors["mse"].null_count() == anchors.height
    popular = anchors.filter(pl.col("method") == "popular")
    # the most popular unseen items (popularity 2^i): user 0 9, 8; user 1 8, 7; every seed
    assert [listed(value, 2) for value in popular["popularity"]] == [{8, 9}, {7, 8}] * 2
    assert popular["dro"].to_list() == pytest.approx([0.1] * 4)
    assert popular["relevance"].to_list() == [0.0, 0.5] * 2  # predicted 3.0, 1.5 | 4.0, 0.2
    assert popular["precision"].to_list() == [0.5, 0.5] * 2  # positives 9 and 8 are listed
    random = anchors.filter(pl.col("method") == "random")
    for user, value in zip(random["user"], random["popularity"], strict=True):
        assert len(listed(value, 2)) == 2 and not listed(value, 2) & SEEN[user]  # unseen items
    frame = frame.filter(
        ((pl.col("seed") == 1) | (pl.col("method") == "ddt"))
        & ~pl.col("method").is_in(["popular", "random"])
    )
    assert frame["k"].to_list() == [2] * 10 and frame["user"].to_list() == [0, 1] * 5
    tops = [listed(value, 2) for value in frame["popularity"]]
    assert tops == [{7, 4}, {1, 8}, {7, 9}, {0, 3}, {9, 3}, {1, 7}, {3, 7}, {1, 8}, {6, 7}, {1, 8}]
    for user, top in zip(frame["user"], tops, strict=True):
        assert not top & SEEN[user]
    base = frame.filter(pl.col("method") == "base")
    # user 0 lists 7, 4 | 9, 5; user 1 lists 1, 8 | 3, 0
    assert base["dro"].to_list() == pytest.approx([0.3, 0.7])
    assert base["dro_beyond"].to_list() == pytest.approx([0.4, 0.3])
    assert base["coverage"].to_list() == pytest.approx([1 / 3, 2 / 3])
    assert base["coverage_beyond"].to_list() == pytest.approx([2 / 3, 1 / 3])  # 9, 5 | 3, 0
    assert base["relevance"].to_list() == [0.5, 1.0]  # predicted 4.8, 3.9 | 4.2, 4.0 against 3.924
    assert base["precision"].to_list() == [0.0, 0.5]
    assert base["recall"].to_list() == [0.0, 1.0]
    assert base["ndcg"].to_list() == pytest.approx([0.0, 1 / math.log2(3)])
    # test items ranked by score: user 0 [9, 3] (both positive), user 1 [8, 2] (one positive of one)
    assert base.select("hr", "precision_test", "recall_test").rows() == [(1, 1, 1), (1, 0.5, 1)]
    # test MSE, user 0: (3 − 5)², (1 − 4)², (0.5 − 2)²; user 1: (4 − 4)², (0.1 − 3)²
    assert base["mse"].to_list() == pytest.approx([(4 + 9 + 2.25) / 3, 8.41 / 2])
    ddt = frame.filter(pl.col("method") == "ddt")
    assert ddt["mse"].to_list() == pytest.approx(
        [(4 + 1 + 2.25) / 3, 8.41 / 2, (4 + 9 + 16) / 3, 8.41 / 2]
    )
    reranked = frame.filter(pl.col("method").is_in(["mmr", "dpp"]))
    assert reranked["relevance"].to_list() == [0.5, 0.0, 0.0, 0.5]  # the base model's predictions
    assert reranked["hr"].null_count() == 4 and reranked["mse"].null_count() == 4


def test_per_run_rows_are_the_aggregate_diversity_of_all_users_lists(device):
    per_run = evaluated(device).per_run
    assert per_run.height == 2 * 5 + 2 and per_run["k"].to_list() == [2] * 12  # one row per run
    rows = {(r["method"], r["param"], r["seed"]): r for r in per_run.iter_rows(named=True)}
    metrics = ["item_coverage", "gini", "entropy"]
    # the base model: user 0 lists 7, 4, user 1 1, 8: four of the ten items, once each; ascending
    # counts six 0s, then 1, 1, 1, 1 with weights 2i − 11 = 3, 5, 7, 9: G = 24 / (10 · 4)
    base = [0.4, 24 / 40, math.log(4)]
    # the most popular: 9, 8 | 8, 7: item 8 twice; counts …, 1, 1, 2 with weights 5, 7, 9:
    # G = 30 / 40; p = ½, ¼, ¼: H = ½ ln 2 + ½ ln 4
    popular = [0.3, 30 / 40, 1.5 * math.log(2)]
    # DDT, seed 1: user 0's boosted item 3 first: 3, 7 | 1, 8 — four items once each, as the base
    for key, expected in (
        (("base", None, 1), base),
        (("base", None, 2), base),
        (("popular", None, 2), popular),
        (("ddt", 0.2, 1), base),
    ):
        assert [rows[key][m] for m in metrics] == pytest.approx(expected)


def test_summarize_joins_the_per_run_aggregates_mean_and_std_over_seeds():
    per_user = pl.concat(
        [
            run("base", None, None, 1, [0.4, 0.6]),
            run("base", None, None, 2, [0.2, 0.4]),
            run("ddt", 0.5, 10, 1, [0.7, 0.9]),
            run("ddt", 0.5, 10, 2, [0.4, 0.6]),
        ]
    )
    per_run = pl.DataFrame(
        {
            "dataset": ["d"] * 4,
            "k": [10] * 4,
            "method": ["base", "base", "ddt", "ddt"],
            "param": [None, None, 0.5, 0.5],
            "train_k": [None, None, 10, 10],
            "seed": [1, 2, 1, 2],
            "item_coverage": [0.1, 0.3, 0.5, 0.6],
            "gini": [0.9, 0.7, 0.4, 0.2],
            "entropy": [1.0, 2.0, 3.0, 5.0],
        },
        schema_overrides={"param": pl.Float64, "train_k": pl.Int64, "k": pl.Int32},
    )
    summary = summarize(per_user, per_run=per_run)
    rows = {r["method"]: r for r in summary.iter_rows(named=True)}
    assert (rows["ddt"]["item_coverage"], rows["ddt"]["item_coverage_std"]) == pytest.approx(
        (0.55, 0.1 / 2**0.5)  # mean and sample std of 0.5 and 0.6
    )
    assert (rows["base"]["gini"], rows["base"]["gini_std"]) == pytest.approx((0.8, 0.2 / 2**0.5))
    assert rows["ddt"]["entropy"] == pytest.approx(4.0)
    added = [f"{m}{s}" for m in ("item_coverage", "gini", "entropy") for s in ("", "_std")]
    assert summary.drop(added).equals(summarize(per_user))  # the per-user summary unchanged
    with pytest.raises(DivlibError, match="1 missing, 0 extra"):
        summarize(per_user, per_run=per_run.head(3))  # DDT's seed 2 left out
    with pytest.raises(DivlibError, match="not one per run and k"):
        summarize(per_user, per_run=per_run.vstack(per_run.head(1)))  # a run twice


def test_evaluate_baselines_rejects_lists_of_other_users():
    data, seen = hand_data()
    with pytest.raises(DivlibError, match="hold 1 users; the model has 2"):
        evaluate_baselines(
            FixedScores(BASE_SCORES),
            {("dum", None): torch.tensor([[7, 9, 3, 8]])},
            data,
            seen,
            seed=1,
            ks=[2],
        )


def test_test_items_are_each_users_rated_columns_then_nan_padding():
    data, _ = hand_data()
    items, ratings = data.test_items
    assert items.tolist() == [[3, 6, 9], [2, 8, 0]]
    assert ratings[0].tolist() == [4.0, 2.0, 5.0]
    assert ratings[1, :2].tolist() == [3.0, 4.0] and math.isnan(ratings[1, 2])


def random_data(gen, users=6, items=40, categories=5):
    category = (torch.rand(items, categories, generator=gen) < 0.35).float()
    category[category.sum(1) == 0, 0] = 1
    test_ratings = torch.where(
        torch.rand(users, items, generator=gen) < 0.25,
        torch.randint(1, 6, (users, items), generator=gen).float(),
        math.nan,
    )
    test_ratings[0] = math.nan  # a user without test ratings
    test_ratings[1] = torch.where(torch.isnan(test_ratings[1]), math.nan, 2.0)  # no positives
    return EvaluationData(
        distance=GroupedDistance.from_categories(category),
        categories=category,
        popularity=torch.randint(0, 50, (items,), generator=gen),
        positives=test_ratings >= 4,
        test_ratings=test_ratings,
    )


def by_loops(lists, scores, data, k, user):
    """Every metric of one user's list at k, window by window, from plain Python."""
    matrix = data.distance.dense().tolist()
    ranked = lists[user].tolist()
    top, beyond = ranked[:k], ranked[k : 2 * k]
    groups = [set(torch.nonzero(row).flatten().tolist()) for row in data.categories]
    n_categories = data.categories.shape[1]
    positives = set(torch.nonzero(data.positives[user]).flatten().tolist())
    ratings = {i: r for i, r in enumerate(data.test_ratings[user].tolist()) if r == r}
    row = {
        "dro": sum(matrix[i][j] for i in top for j in top if i != j) / (k * (k - 1)),
        "dro_beyond": sum(matrix[i][j] for i in beyond for j in beyond if i != j) / (k * (k - 1)),
        "coverage": len(set().union(*(groups[i] for i in top))) / n_categories,
        "coverage_beyond": len(set().union(*(groups[i] for i in beyond))) / n_categories,
        "popularity": sum(data.popularity[i].item() for i in top) / k,
    }
    hits = [i in positives for i in top]
    ideal = sum(1 / math.log2(r + 2) for r in range(min(k, len(positives))))
    test_top = sorted(ratings, key=lambda i: -scores[user, i].item())[:k]
    test_hits = sum(ratings[i] >= 4 for i in test_top)
    undefined = math.nan if not positives else None
    row |= {
        "precision": undefined or sum(hits) / k,
        "recall": undefined or sum(hits) / len(positives),
        "ndcg": undefined or sum(h / math.log2(r + 2) for r, h in enumerate(hits)) / ideal,
        "hr": undefined or float(test_hits > 0),
        "precision_test": undefined or test_hits / len(test_top),
        "recall_test": undefined or test_hits / len(positives),
        "mse": sum((scores[user, i].item() - r) ** 2 for i, r in ratings.items()) / len(ratings)
        if ratings
        else math.nan,
    }
    return row


def test_every_k_reads_its_windows_as_if_computed_on_their_own(gen):
    data = random_data(gen)
    scores = torch.randn(6, 40, generator=gen) + 1.5 * data.positives  # some hits, some misses
    lists = scores.topk(12, dim=1).indices
    ks = [2, 3, 6]
    frame = evaluate_lists(lists, scores.gather(1, lists), data, ks=ks, scores=scores)
    assert frame["k"].to_list() == [k for k in ks for _ in range(6)]
    for row in frame.iter_rows(named=True):
        expected = by_loops(lists, scores, data, row["k"], row["user"])
        for name, value in expected.items():
            assert row[name] == pytest.approx(value, rel=1e-6, abs=1e-6, nan_ok=True), name


def test_window_diversity_sums_each_windows_own_pairs():
    matrix = torch.tensor([[0, 1, 2, 3], [1, 0, 4, 5], [2, 4, 0, 6], [3, 5, 6, 0]]) / 10
    lists = torch.tensor([[0, 1, 2, 3], [3, 2, 1, 0]])
    prefix, middle, whole = window_diversity(lists, matrix, [(0, 2), (1, 3), (0, 4)])
    assert prefix.tolist() == pytest.approx([0.1, 0.6])  # D_01; D_32
    assert middle.tolist() == pytest.approx([0.4, 0.4])  # D_12; D_21
    assert whole.tolist() == pytest.approx([(1 + 2 + 3 + 4 + 5 + 6) / 60] * 2)
    with pytest.raises(DivlibError, match=">= 2 items"):
        window_diversity(lists, matrix, [(0, 2), (2, 3)])


def test_distance_groups_merge_items_with_equal_distances_and_rebuild_the_matrix():
    # items 0 and 2 lie at the same distances from everything: one group
    matrix = torch.tensor(
        [[0, 0.5, 0, 0.9], [0.5, 0, 0.5, 0.3], [0, 0.5, 0, 0.9], [0.9, 0.3, 0.9, 0]]
    )
    groups, group_matrix = distance_groups(matrix)
    assert groups[0] == groups[2] and len(set(groups.tolist())) == 3
    assert torch.equal(group_matrix[groups[:, None], groups[None, :]], matrix)


def test_grouped_and_dense_distances_give_the_same_windows(gen):
    data = random_data(gen)
    dense = EvaluationData(**{**vars(data), "distance": DenseDistance(data.distance.dense())})
    lists = torch.randn(6, 40, generator=gen).topk(8, dim=1).indices
    assert dense.distance_groups[1].shape[0] == data.distance_groups[1].shape[0]  # found again
    matrix = data.distance.dense()
    for evaluation in (data, dense):
        frame = evaluate_lists(lists, torch.zeros(6, 8), evaluation, ks=[2, 4])
        for row in frame.iter_rows(named=True):
            top = lists[row["user"], : row["k"]]
            expected = matrix[top][:, top].sum().item() / (row["k"] * (row["k"] - 1))
            assert row["dro"] == pytest.approx(expected)


def run(method, param, train_k, seed, dro, recall=None) -> pl.DataFrame:
    """One run's per-user rows at k = 10 (dataset d): ``dro`` per user, other metrics constant."""
    users = len(dro)
    return pl.DataFrame(
        {
            "dataset": ["d"] * users,
            "k": [10] * users,
            "user": list(range(users)),
            "dro": dro,
            "dro_beyond": [0.5] * users,
            "coverage": [0.2] * users,
            "relevance": [0.8] * users,
            "recall": recall or [0.5] * users,
        }
    ).with_columns(
        method=pl.lit(method),
        param=pl.lit(param, dtype=pl.Float64),
        train_k=pl.lit(train_k, dtype=pl.Int64),
        seed=pl.lit(seed, dtype=pl.Int64),
    )


def test_summarize_pairs_each_run_with_the_base_model_of_its_seed():
    per_user = pl.concat(
        [
            run("base", None, None, 1, [0.4, 0.6]),  # mean 0.5
            run("base", None, None, 2, [0.2, 0.4]),  # mean 0.3
            run("ddt", 0.5, 10, 1, [0.7, 0.9], recall=[math.nan, 0.25]),  # 0.8: gain 0.3 (60 %)
            run("ddt", 0.5, 10, 2, [0.4, 0.6], recall=[math.nan, 0.75]),  # 0.5: gain 0.2 (66.7 %)
            run("ddt", 0.5, 5, 2, [0.5, 0.5]),  # another k trained for: its own row
            run("mdr", 0.5, 10, 2, [0.5, 0.5]),  # seed 2 only: gain 0.2 over its own base
        ]
    )
    summary = summarize(per_user)
    rows = {(r["method"], r["train_k"]): r for r in summary.iter_rows(named=True)}
    assert set(rows) == {("base", None), ("ddt", 10), ("ddt", 5), ("mdr", 10)}
    ddt = rows["ddt", 10]
    assert ddt["dro"] == pytest.approx(0.65) and ddt["dro_std"] == pytest.approx(0.3 / 2**0.5)
    assert ddt["dro_gain"] == pytest.approx(0.25)
    assert ddt["dro_gain_std"] == pytest.approx(0.1 / 2**0.5)  # std of the paired gains 0.3, 0.2
    assert ddt["dro_gain_pct"] == pytest.approx((60 + 200 / 3) / 2)
    assert (ddt["seeds"], ddt["users"], ddt["users_with_positives"]) == (2, 2, 1)
    assert ddt["recall"] == pytest.approx(0.5)  # the user without positives skipped, not a 0
    assert rows["mdr", 10]["dro_gain"] == pytest.approx(0.2)
    assert rows["mdr", 10]["dro_gain_std"] is None  # one seed
    assert rows["ddt", 5]["dro_gain"] == pytest.approx(0.2) and rows["ddt", 5]["seeds"] == 1
    base = rows["base", None]
    assert (base["dro"], base["dro_gain"], base["dro_gain_std"]) == (pytest.approx(0.4), 0, 0)
    assert base["dro_p"] is None and ddt["coverage_p"] is None  # nothing to test


def test_summarize_needs_a_base_run_of_every_seed_and_the_run_columns():
    with pytest.raises(DivlibError, match=r"no 'base' run for seed\(s\) \[3\]"):
        summarize(pl.concat([run("base", None, None, 1, [0.4]), run("ddt", 0.5, 10, 3, [0.5])]))
    with pytest.raises(DivlibError, match=r"lack the run columns \['train_k'\]"):
        summarize(run("base", None, None, 1, [0.4]).drop("train_k"))


def test_run_means_skip_users_without_a_value():
    means = run_means(run("ddt", 0.5, 10, 1, [0.2, 0.6], recall=[math.nan, 0.3]))
    row = means.row(0, named=True)
    assert (row["dro"], row["recall"], row["users"], row["users_with_positives"]) == (
        pytest.approx(0.4),
        pytest.approx(0.3),
        2,
        1,
    )


def exact_wilcoxon(differences: list[float]) -> tuple[float, float]:
    """Two-sided and one-sided (greater) signed-rank p-values by enumerating the 2^n sign patterns
    (no ties or zeros)."""
    ranks = sorted(range(len(differences)), key=lambda i: abs(differences[i]))
    rank = {i: r + 1 for r, i in enumerate(ranks)}
    observed = sum(rank[i] for i, d in enumerate(differences) if d > 0)
    null = [
        sum(
            r for r, positive in zip(range(1, len(differences) + 1), signs, strict=True) if positive
        )
        for signs in itertools.product([False, True], repeat=len(differences))
    ]
    greater = sum(w >= observed for w in null) / len(null)
    less = sum(w <= observed for w in null) / len(null)
    return min(1.0, 2 * min(greater, less)), greater


def test_summarize_pvalue_is_the_wilcoxon_of_the_seed_mean_paired_differences():
    steps = [1, 2, -3, 4, 5, 6]  # differences in 1/16: W+ = 18 of 21
    jitter = [
        (-1) ** u / 64 for u in range(len(steps))
    ]  # ± per seed: cancels in the mean over seeds
    bases = {1: [0.5 + j for j in jitter], 2: [0.3 - j for j in jitter]}  # each seed's own base
    per_user = pl.concat(
        [
            *(run("base", None, None, seed, values) for seed, values in bases.items()),
            *(
                run(
                    "ddt",
                    0.5,
                    10,
                    seed,
                    [
                        b + s / 16 + sign * j
                        for b, s, j in zip(bases[seed], steps, jitter, strict=True)
                    ],
                )
                for seed, sign in ((1, 1), (2, -1))
            ),
            run("mdr", 0.5, 10, 2, [b + s / 16 for b, s in zip(bases[2], steps, strict=True)]),
        ]
    )
    summary = summarize(per_user)
    ddt = summary.filter(pl.col("method") == "ddt").row(0, named=True)
    two_sided, one_sided = exact_wilcoxon([s / 16 for s in steps])
    assert (two_sided, one_sided) == (10 / 64, 5 / 64)  # subsets of ranks 1..6 summing to <= 3: 5
    assert ddt["dro_p"] == pytest.approx(two_sided, rel=1e-12)
    mdr = summary.filter(pl.col("method") == "mdr").row(0, named=True)  # paired with seed 2 only
    assert mdr["dro_p"] == pytest.approx(two_sided, rel=1e-12)
    assert ddt["dro_gain"] == pytest.approx(sum(steps) / 16 / len(steps))


def test_metric_vocabulary_names_every_metric_column():
    per_user, per_run = (
        frame.with_columns(pl.lit("d").alias("dataset")) for frame in evaluated("cpu")
    )
    summary = summarize(per_user, per_run=per_run)
    columns = {c for c in summary.columns if summary[c].dtype == pl.Float64 and c != "param"}
    assert {c for c in columns if not c.endswith("_std")} == set(METRICS)
    assert metric_label("dro", 10) == "DRO@10"
    assert metric_label("dro_beyond", "k") == "DRO, ranks k+1..2·k"
    assert metric_label("mse", 10) == "MSE (test ratings)"
    with pytest.raises(DivlibError, match="unknown metric 'diversity'"):
        metric_label("diversity", 10)


def test_load_runs_reads_each_runs_identity_and_selected_model(tmp_path):
    saved = {}
    for name, identity, seed in (
        ("mdr-beta0.8-seed1", ("mdr", 0.8, 10, 1), 4),
        ("ddt-beta0.2-k5-seed2", ("ddt", 0.2, 5, 2), 5),
    ):
        config = {"n_users": 3, "n_items": 4, "dim": 2, "seed": seed}
        model = build_model("mf", **config)
        save_model(tmp_path / name / "selected.pt", model, name="mf", config=config)
        keys = ("method", "param", "train_k", "seed")
        record = dict(zip(keys, identity, strict=True)) | {"val_mse": 1.0}
        (tmp_path / name / "run.json").write_text(json.dumps(record))
        saved[identity] = model.score_all(torch.arange(3))
    runs = list(load_runs(tmp_path))
    assert [identity for identity, _ in runs] == [
        {"method": "ddt", "param": 0.2, "train_k": 5, "seed": 2},
        {"method": "mdr", "param": 0.8, "train_k": 10, "seed": 1},
    ]
    for identity, model in runs:
        expected = saved[tuple(identity.values())]
        assert torch.equal(model.score_all(torch.arange(3)), expected)


def test_lists_frame_layout_and_its_inverse():
    lists = {
        ("dum", None): torch.tensor([[4, 2, 7], [1, 0, 3]]),
        ("mmr", 0.3): torch.tensor([[2, 4, 5], [3, 1, 6]]),
    }
    frame = lists_frame(lists)
    assert frame.schema == pl.Schema(
        {
            "method": pl.String,
            "param": pl.Float64,
            "user": pl.Int64,
            "rank": pl.Int64,
            "item": pl.Int64,
        }
    )
    assert frame.rows()[:4] == [
        ("dum", None, 0, 1, 4),
        ("dum", None, 0, 2, 2),
        ("dum", None, 0, 3, 7),
        ("dum", None, 1, 1, 1),
    ]
    assert frame.rows()[-1] == ("mmr", 0.3, 1, 3, 6) and frame.height == 12
    back = frame_lists(frame.sample(fraction=1.0, shuffle=True, seed=3).sort("method", "param"))
    assert list(back) == [("dum", None), ("mmr", 0.3)]
    assert all(torch.equal(back[run], lists[run]) for run in lists)


# Every list against the split files: no user is shown an item rated in training or validation


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Layout:
    """Dataset "synthetic" prepared (40 users, 80 items, splits and catalogue), its genre
    distance, and an initialised nmf model as the model pretrained with seed 1."""
    return synthetic_project(
        tmp_path_factory.mktemp("project"), users=40, items=80, ratings=1200, categories=5
    )


def split_pairs(layout: Layout, *names: str) -> pl.DataFrame:
    """The (user, item) pairs of the split files ``names``, read as they are on disk."""
    folder = layout.prepared("synthetic")
    return pl.concat(
        [pl.read_parquet(folder / f"{n}.parquet").select("user", "item") for n in names]
    )


def rated_listed(lists: pl.DataFrame, layout: Layout) -> pl.DataFrame:
    """The rows of ``lists`` (user, item, …) whose user rated the item in training or validation."""
    return lists.join(split_pairs(layout, "train", "val"), on=["user", "item"])


def validation_items_at_risk(layout: Layout, length: int) -> int:
    """How many validation items the base model's top ``length`` lists hold when only the training
    items are left out: what a mask of the training items alone would let through."""
    model, config = load_model(layout.base("synthetic", "nmf", 1))
    train = split_pairs(layout, "train")
    with torch.no_grad():
        scores = model.score_all(torch.arange(config["n_users"]))
    scores[train["user"].to_torch(), train["item"].to_torch()] = -torch.inf
    top = long_lists(scores.topk(length, dim=1).indices)
    return top.join(split_pairs(layout, "val"), on=["user", "item"]).height


def test_the_items_never_listed_are_the_training_and_validation_pairs(project):
    _, never = load_evaluation(project, "synthetic")
    pairs = split_pairs(project, "train", "val")
    expected = torch.zeros_like(never)
    expected[pairs["user"].to_torch(), pairs["item"].to_torch()] = True
    differ = int((never != expected).sum())  # (user, item) pairs masked wrongly
    assert differ == 0


def test_the_rerank_stages_lists_hold_no_training_or_validation_item(project):
    section = Rerank(pool=20, mmr_lambdas=[0.5], dpp_thetas=[None, 0.5])
    rerank_baselines(section, [1], [5], dataset="synthetic", model="nmf", layout=project)
    lists = pl.read_parquet(project.rerank("synthetic", "nmf"))
    assert set(lists["method"]) == {"mmr", "dpp", "dum", "mmr-paper", "dpp-paper"}
    assert lists.group_by("method", "param", "user").len()["len"].unique().to_list() == [10]
    leaked = rated_listed(lists, project).height
    assert leaked == 0
    assert validation_items_at_risk(project, 20) > 0  # the candidate pools the check guards


def spied_lists(monkeypatch) -> list[torch.Tensor]:
    """Every ``(n_users, K)`` list that :func:`evaluate_lists` is given from now on."""
    given = []

    def spy(lists, *args, **kwargs):
        given.append(lists)
        return evaluate_lists(lists, *args, **kwargs)

    monkeypatch.setattr("divlib.study.evaluation.evaluate_lists", spy)
    return given


def test_evaluated_lists_of_a_model_and_the_anchors_hold_no_training_or_validation_item(
    project, monkeypatch
):
    # the evaluate stage's inputs as it reads them (load_evaluation), the base model's own list
    # and the anchors' (evaluate_baselines), and a fine-tuned run's (evaluate_models)
    data, never = load_evaluation(project, "synthetic")
    model, _ = load_model(project.base("synthetic", "nmf", 1))
    given = spied_lists(monkeypatch)
    evaluate_baselines(model, {}, data, never, seed=1, ks=[5])
    run = {"method": "ddt", "param": 0.5, "train_k": 10, "seed": 1}
    evaluate_models([(run, model)], data, never, ks=[5])
    assert len(given) == 4  # base, popular, random, the run
    for lists in given:
        assert lists.shape == (never.shape[0], 10)
        leaked = rated_listed(long_lists(lists), project).height
        assert leaked == 0
    assert validation_items_at_risk(project, 10) > 0
