"""The evaluation of a model's runs on a hand-worked example; summaries' p-values by exact enumeration;
the metrics file's labels and keys; the metric vocabulary."""

import itertools
import json
import math
from pathlib import Path

import polars as pl
import pytest
import torch

from divlib import DenseDistance, DivlibError
from divlib.evaluation import (
    EvaluationData,
    evaluate_runs,
    load_runs,
    reported_metrics,
    summarize,
)
from divlib.metrics import METRICS, REPORTED, metric_label, metric_name
from divlib.models import build_model, save_model

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
    data, seen = hand_data()
    runs = (
        ({"method": "ddt", "param": 0.2, "seed": 1}, FixedScores(boosted(0, 3, 5.0))),
        ({"method": "ddt", "param": 0.8, "seed": 2}, FixedScores(boosted(0, 6, 6.0))),
    )  # a generator, as load_runs gives
    reranked = {
        ("mmr", 0.3): torch.tensor([[7, 9, 3, 8], [0, 3, 4, 7]]),
        ("dpp", 0.7): torch.tensor([[9, 3, 8, 6], [1, 7, 0, 4]]),
    }
    base = FixedScores(BASE_SCORES)
    return evaluate_runs(base, runs, reranked, data, seen, ks=[2], device=device)


def test_evaluate_runs_ranks_only_unseen_items_by_hand(device):
    frame = evaluated(device)
    assert frame.select("method", "param", "seed").rows() == [
        ("base", None, 0), ("base", None, 0), ("ddt", 0.2, 1), ("ddt", 0.2, 1),
        ("ddt", 0.8, 2), ("ddt", 0.8, 2), ("mmr", 0.3, 0), ("mmr", 0.3, 0),
        ("dpp", 0.7, 0), ("dpp", 0.7, 0),
    ]  # fmt: skip
    assert frame.schema["param"] == pl.Float64 and frame.schema["seed"] == pl.Int64
    assert frame["k"].to_list() == [2] * 10 and frame["user"].to_list() == [0, 1] * 5
    tops = [listed(value, 2) for value in frame["popularity"]]
    assert tops == [{7, 4}, {1, 8}, {3, 7}, {1, 8}, {6, 7}, {1, 8}, {7, 9}, {0, 3}, {9, 3}, {1, 7}]
    for user, top in zip(frame["user"], tops, strict=True):
        assert not top & SEEN[user]
    base = frame.filter(pl.col("method") == "base")
    # user 0 lists 7, 4 | 9, 5; user 1 lists 1, 8 | 3, 0
    assert base["dro"].to_list() == pytest.approx([0.3, 0.7])
    assert base["dro_beyond"].to_list() == pytest.approx([0.4, 0.3])
    assert base["coverage"].to_list() == pytest.approx([1 / 3, 2 / 3])
    assert base["relevance"].to_list() == [0.5, 1.0]  # predicted 4.8, 3.9 | 4.2, 4.0 against 3.924
    assert base["precision"].to_list() == [0.0, 0.5]
    assert base["recall"].to_list() == [0.0, 1.0]
    assert base["ndcg"].to_list() == pytest.approx([0.0, 1 / math.log2(3)])
    # test items ranked by score: user 0 [9, 3] (both positive), user 1 [8, 2] (one positive of one)
    assert base.select("hr", "precision_test", "recall_test").rows() == [(1, 1, 1), (1, 0.5, 1)]
    reranked = frame.filter(pl.col("method").is_in(["mmr", "dpp"]))
    assert reranked["relevance"].to_list() == [0.5, 0.0, 0.0, 0.5]  # the base model's predictions
    assert reranked["hr"].null_count() == 4


def test_evaluate_runs_rejects_lists_of_other_users():
    data, seen = hand_data()
    with pytest.raises(DivlibError, match="hold 1 users; the model has 2"):
        evaluate_runs(FixedScores(BASE_SCORES), [], {("dum", None): torch.tensor([[7, 9, 3, 8]])},
                      data, seen, ks=[2])  # fmt: skip


def exact_wilcoxon(differences: list[float]) -> tuple[float, float]:
    """Two-sided and one-sided (greater) signed-rank p-values by enumerating the 2^n sign patterns
    (no ties or zeros)."""
    ranks = sorted(range(len(differences)), key=lambda i: abs(differences[i]))
    rank = {i: r + 1 for r, i in enumerate(ranks)}
    observed = sum(rank[i] for i, d in enumerate(differences) if d > 0)
    null = [sum(r for r, positive in zip(range(1, len(differences) + 1), signs, strict=True)
                if positive) for signs in itertools.product([False, True], repeat=len(differences))]  # fmt: skip
    greater = sum(w >= observed for w in null) / len(null)
    less = sum(w <= observed for w in null) / len(null)
    return min(1.0, 2 * min(greater, less)), greater


def test_summarize_pvalue_is_the_two_sided_wilcoxon_of_the_seed_means():
    steps = [1, 2, -3, 4, 5, 6]  # differences in 1/16: W+ = 18 of 21
    users = len(steps)

    def run(method, param, seed, dro):
        return pl.DataFrame({
            "k": [10] * users, "user": list(range(users)), "dro": dro,
            "dro_beyond": [0.5] * users, "coverage": [0.2] * users, "relevance": [0.8] * users,
            "recall": [0.5] * users,
        }).with_columns(method=pl.lit(method), param=pl.lit(param, dtype=pl.Float64),
                        seed=pl.lit(seed, dtype=pl.Int64))  # fmt: skip

    jitter = [(-1) ** u / 64 for u in range(users)]  # ± per seed: cancels in the mean over seeds
    per_user = pl.concat([
        run("base", None, 0, [0.5] * users),
        run("ddt", 0.5, 1, [0.5 + s / 16 + j for s, j in zip(steps, jitter, strict=True)]),
        run("ddt", 0.5, 2, [0.5 + s / 16 - j for s, j in zip(steps, jitter, strict=True)]),
    ])  # fmt: skip
    ddt = summarize(per_user).filter(pl.col("method") == "ddt").row(0, named=True)
    two_sided, one_sided = exact_wilcoxon([s / 16 for s in steps])
    assert (two_sided, one_sided) == (10 / 64, 5 / 64)  # subsets of ranks 1..6 summing to <= 3: 5
    assert ddt["dro_p"] == pytest.approx(two_sided, rel=1e-12)
    assert ddt["dro_gain"] == pytest.approx(sum(steps) / 16 / users)


def test_reported_metrics_labels_keys_order_and_rounding():
    summary = pl.DataFrame({
        "dro_p": [None, 0.0123456789, 0.5, 0.9],
        "method": ["base", "ddt", "mmr", "ddt"],
        "param": [None, 0.5, 0.25, 0.5],
        "k": [10, 10, 10, 5],
        "popularity": [123456.7, 2.0, 3.0, 4.0],
        "dro": [0.123456789, 0.2, math.nan, 0.4],
        "hr": [1.0, None, 0.5, 0.5],
        "coverage_beyond": [0.1, 0.2, 0.3, 0.4],  # not reported
    })  # fmt: skip
    result = reported_metrics(summary, 10)
    assert json.dumps(result) == json.dumps({
        "base": {"dro@10": 0.123457, "hr@10": 1.0, "popularity@10": 123457.0},
        "ddt-0.5": {"dro@10": 0.2, "popularity@10": 2.0, "dro_p@10": 0.0123457},
        "mmr-0.25": {"hr@10": 0.5, "popularity@10": 3.0, "dro_p@10": 0.5},
    })  # fmt: skip


def test_reported_metrics_keep_the_published_metrics_file():
    """The names and order of the tracked metrics file, which ``dvc metrics diff`` compares."""
    published = json.loads((ROOT / "metrics" / "ml-100k" / "nmf" / "evaluate.json").read_text())
    assert list(published["ddt-0.5"]) == [metric_name(key, 10) for key in REPORTED]


def test_metric_vocabulary_names_every_metric_column():
    per_user = evaluated("cpu").with_columns(pl.lit("d").alias("dataset"))
    summary = summarize(per_user)
    columns = {c for c in summary.columns if summary[c].dtype == pl.Float64 and c != "param"}
    assert {c for c in columns if not c.endswith("_std")} == set(METRICS)
    assert set(REPORTED) <= set(METRICS)
    assert (metric_name("dro", 10), metric_label("dro", 10)) == ("dro@10", "DRO@10")
    assert metric_label("dro_beyond", "k") == "DRO, ranks k+1..2·k"
    with pytest.raises(DivlibError, match="unknown metric 'diversity'"):
        metric_label("diversity", 10)


def test_load_runs_reads_each_runs_identity_and_selected_model(tmp_path):
    saved = {}
    for name, identity, seed in (("mdr-beta0.8-seed1", ("mdr", 0.8, 1), 4),
                                 ("ddt-beta0.2-seed2", ("ddt", 0.2, 2), 5)):  # fmt: skip
        config = {"n_users": 3, "n_items": 4, "dim": 2, "seed": seed}
        model = build_model("mf", **config)
        save_model(tmp_path / name / "selected.pt", model, name="mf", config=config)
        record = dict(zip(("method", "param", "seed"), identity, strict=True)) | {"val_mse": 1.0}
        (tmp_path / name / "run.json").write_text(json.dumps(record))
        saved[identity] = model.score_all(torch.arange(3))
    runs = list(load_runs(tmp_path))
    assert [identity for identity, _ in runs] == [
        {"method": "ddt", "param": 0.2, "seed": 2}, {"method": "mdr", "param": 0.8, "seed": 1}
    ]  # fmt: skip
    for identity, model in runs:
        expected = saved[identity["method"], identity["param"], identity["seed"]]
        assert torch.equal(model.score_all(torch.arange(3)), expected)
