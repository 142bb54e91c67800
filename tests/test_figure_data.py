"""The figures' data, from a tiny hand-made output tree: run logs tagged from run.json, hand-worked means
and stds over seeds, the summaries each figure reads, the case study's run, user and lists, slot shares."""

import json
import math
from pathlib import Path

import polars as pl
import pytest
import torch

from divlib import DivlibError
from divlib.models import build_model, save_model
from divlib.study.figure_data import (
    CaseStudy,
    adaptive_steps,
    case_run,
    case_study,
    case_study_table,
    case_user,
    case_users,
    category_shares,
    concentrated_user,
    load_case_study,
    load_figure_data,
    mean_adaptive,
    mean_curves,
    read_summaries,
    training_curves,
)
from divlib.study.layout import Layout
from divlib.study.readers import matched_per_user, training_steps

USERS, ITEMS, K = 4, 8, 3
CATEGORIES = [
    ["Drama"],
    ["Drama", "War"],
    ["Comedy"],
    ["War"],
    ["Horror"],
    ["Drama"],
    ["Comedy"],
    [],
]


def save(model_seed: int, path: Path) -> None:
    model = build_model("nmf", n_users=USERS, n_items=ITEMS, dim=2, seed=model_seed)
    save_model(path, model, name="nmf", config={"n_users": USERS, "n_items": ITEMS, "dim": 2})


def write_run(
    folder: Path,
    identity: dict,
    *,
    epochs: dict | None = None,
    steps: dict | None = None,
    model_seed: int | None = None,
) -> None:
    """One run folder: run.json (regime finetune unless given), and the logs and checkpoint given."""
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"regime": "finetune"} | identity))
    for name, log in (("epochs", epochs), ("steps", steps)):
        if log is not None:
            pl.DataFrame(log).write_parquet(folder / f"{name}.parquet")
    if model_seed is not None:
        save(model_seed, folder / "selected.pt")


def epochs(ddro: list[float], dro: list[float]) -> dict:
    n = len(dro)
    return {
        "epoch": list(range(1, n + 1)),
        "beta": [0.2] * n,
        "val_mse": [0.9] * n,
        "dro": dro,
        "ddro": ddro,
        "val_joint": [0.0] * n,
    }


def steps(beta: list[float], low: list[float], high: list[float]) -> dict:
    n = len(beta)
    return {
        "step": list(range(1, n + 1)),
        "epoch": [1] * n,
        "mse": [0.9] * n,
        "ddro": [0.5] * n,
        "dro": [0.5] * n,
        "beta": beta,
        "a": [1.0] * n,
        "b": [2.0] * n,
        "rho": [-0.5] * n,
        "beta_low": low,
        "beta_high": high,
    }


def user_rows(runs: list[tuple]) -> pl.DataFrame:
    """Per-user rows of two users per run (method, param, seed, k): DRO seed/10 + user/100 + (0.5
    for mmr), NDCG seed/100."""
    return pl.DataFrame(
        [
            {
                "dataset": "toy",
                "model": "nmf",
                "k": k,
                "user": user,
                "dro": seed / 10 + user / 100 + (0.5 if method == "mmr" else 0.0),
                "relevance": 0.9,
                "ndcg": seed / 100,
                "recall": seed / 50,
                "method": method,
                "param": param,
                "train_k": None,
                "seed": seed,
            }
            for method, param, seed, k in runs
            for user in (0, 1)
        ],
        schema_overrides={"param": pl.Float64, "train_k": pl.Int64},
    )


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    """A tiny output tree of dataset "toy": splits and items; nmf pretrained with seeds 1 and 2; its
    main_table runs (DDT seeds 2 and 1, MDR seed 1); training_curves runs of nmf (DDT fine-tuned
    seeds 1 and 2, DDT from scratch, MDR) and ncf (DDT); adaptive_beta runs of nmf (both rules);
    beta_sweep and baselines summaries of nmf; sensitivity results."""
    layout = Layout(tmp_path)
    prepared = layout.prepared("toy")
    prepared.mkdir(parents=True)
    (prepared / "meta.json").write_text(json.dumps({"users": USERS, "items": ITEMS}))
    pl.DataFrame({"user": [0, 1, 2], "item": [0, 1, 2], "rating": [4.0, 5.0, 3.0]}).write_parquet(
        prepared / "train.parquet"
    )
    pl.DataFrame({"user": [3], "item": [5], "rating": [2.0]}).write_parquet(
        prepared / "val.parquet"
    )
    pl.DataFrame(
        {
            "item": list(range(ITEMS))[::-1],
            "title": [f"t{i}" for i in range(ITEMS)][::-1],
            "categories": CATEGORIES[::-1],
        }
    ).write_parquet(prepared / "items.parquet")
    save(1, layout.base("toy", "nmf", 1))
    save(2, layout.base("toy", "nmf", 2))
    main = layout.runs("toy", "nmf", "main_table")
    write_run(main / "ddt-beta0.2-seed2", {"method": "ddt", "param": 0.2, "seed": 2}, model_seed=3)
    write_run(main / "ddt-beta0.2-seed1", {"method": "ddt", "param": 0.2, "seed": 1}, model_seed=4)
    write_run(main / "mdr-beta0.2-seed1", {"method": "mdr", "param": 0.2, "seed": 1}, model_seed=5)
    curves = layout.runs("toy", "nmf", "training_curves")
    ddt = {"method": "ddt", "param": 0.2}
    write_run(
        curves / "ddt-beta0.2-seed1", ddt | {"seed": 1}, epochs=epochs([0.1, 0.3], [0.2, 0.4])
    )
    write_run(
        curves / "ddt-beta0.2-seed2", ddt | {"seed": 2}, epochs=epochs([0.3, 0.7], [0.4, 0.8])
    )
    write_run(
        curves / "ddt-scratch-beta0.2-seed1",
        ddt | {"seed": 1, "regime": "scratch"},
        epochs=epochs([0.0, 0.5], [0.6, 0.7]),
    )
    write_run(
        curves / "mdr-beta0.2-seed1",
        {"method": "mdr", "param": 0.2, "seed": 1},
        epochs=epochs([0.9, 0.8], [0.95, 0.85]),
    )
    write_run(
        layout.runs("toy", "ncf", "training_curves") / "ddt-beta0.2-seed1",
        ddt | {"seed": 1},
        epochs=epochs([0.11, 0.12], [0.21, 0.22]),
    )
    adaptive = layout.runs("toy", "nmf", "adaptive_beta")
    write_run(
        adaptive / "ddt-adaptive-seed1",
        {"method": "ddt-adaptive", "param": None, "seed": 1},
        steps=steps([0.2, 0.4], [0.1, 0.3], [0.5, 0.9]),
    )
    write_run(
        adaptive / "ddt-adaptive-seed2",
        {"method": "ddt-adaptive", "param": None, "seed": 2},
        steps=steps([0.4, 0.6], [0.3, 0.1], [0.7, 0.7]),
    )
    write_run(
        adaptive / "ddt-adaptive-normalized-seed1",
        {"method": "ddt-adaptive-normalized", "param": None, "seed": 1},
        steps=steps([0.5, 0.5], [0.0, 0.0], [1.0, 1.0]),
    )
    sweep = {
        "k": [K] * 3,
        "method": ["base", "ddt", "mdr"],
        "param": [None, 0.5, 0.5],
        "dro": [0.5, 0.9, 0.8],
        "relevance": [0.9, 0.95, 0.93],
    }
    baselines = {
        "k": [K] * 3,
        "method": ["base", "mmr", "dum"],
        "param": [None, 0.5, None],
        "dro": [0.5, 0.95, 0.9],
        "relevance": [0.9, 0.85, 0.87],
    }
    for experiment, summary in (("beta_sweep", sweep), ("baselines", baselines)):
        path = layout.summary("toy", "nmf", experiment)
        path.parent.mkdir(parents=True)
        pl.DataFrame(summary).write_parquet(path)
    per_user = {  # the baselines run seeds 1–3, the main_table seeds 2 and 1; one run at k = 5
        "baselines": [("base", None, seed, K) for seed in (1, 2, 3)]
        + [("mmr", 0.5, seed, K) for seed in (1, 2, 3)]
        + [("mmr", 0.5, 1, 5)],
        "main_table": [("ddt", 0.2, 2, K), ("ddt", 0.2, 1, K)],
    }
    for experiment, runs in per_user.items():
        path = layout.per_user("toy", "nmf", experiment)
        path.parent.mkdir(parents=True, exist_ok=True)
        user_rows(runs).write_parquet(path)
    layout.sensitivity("toy").parent.mkdir(parents=True)
    pl.DataFrame({"eps": [0.01], "k": [K]}).write_parquet(layout.sensitivity("toy"))
    return layout


def test_training_curves_tag_every_epoch_with_its_runs_model_method_regime_and_seed(layout):
    curves = training_curves(layout, "toy", ["nmf", "ncf"])
    assert curves.columns == ["model", "method", "regime", "seed", "epoch", "ddro", "dro"]
    assert curves.rows() == [
        ("nmf", "ddt", "finetune", 1, 1, 0.1, 0.2),
        ("nmf", "ddt", "finetune", 1, 2, 0.3, 0.4),
        ("nmf", "ddt", "finetune", 2, 1, 0.3, 0.4),
        ("nmf", "ddt", "finetune", 2, 2, 0.7, 0.8),
        ("nmf", "ddt", "scratch", 1, 1, 0.0, 0.6),
        ("nmf", "ddt", "scratch", 1, 2, 0.5, 0.7),
        ("nmf", "mdr", "finetune", 1, 1, 0.9, 0.95),
        ("nmf", "mdr", "finetune", 1, 2, 0.8, 0.85),
        ("ncf", "ddt", "finetune", 1, 1, 0.11, 0.21),
        ("ncf", "ddt", "finetune", 1, 2, 0.12, 0.22),
    ]
    assert training_curves(layout, "toy", ["ncf", "nmf"])["model"][0] == "ncf"  # the order given


def test_mean_curves_average_the_seeds_of_each_model_method_and_regime_per_epoch(layout):
    means = mean_curves(training_curves(layout, "toy", ["nmf", "ncf"]))
    keys = ["model", "method", "regime", "epoch"]
    assert means.select(keys).rows() == [
        ("nmf", "ddt", "finetune", 1),
        ("nmf", "ddt", "finetune", 2),
        ("nmf", "ddt", "scratch", 1),
        ("nmf", "ddt", "scratch", 2),
        ("nmf", "mdr", "finetune", 1),
        ("nmf", "mdr", "finetune", 2),
        ("ncf", "ddt", "finetune", 1),
        ("ncf", "ddt", "finetune", 2),
    ]
    finetuned = means.filter(model="nmf", method="ddt", regime="finetune")
    assert finetuned["ddro"].to_list() == pytest.approx([0.2, 0.5])  # (0.1 + 0.3) / 2, …
    assert finetuned["dro"].to_list() == pytest.approx([0.3, 0.6])
    spread = [0.2 / math.sqrt(2), 0.4 / math.sqrt(2)]  # the sample std of x and y: |x − y| / √2
    assert finetuned["ddro_std"].to_list() == pytest.approx(spread)
    assert finetuned["dro_std"].to_list() == pytest.approx(spread)
    scratch = means.filter(model="nmf", regime="scratch")
    assert scratch["dro"].to_list() == [0.6, 0.7]  # one seed: itself, no std
    assert scratch["dro_std"].null_count() == 2
    assert means.filter(model="ncf")["ddro"].to_list() == [0.11, 0.12]  # not mixed with nmf's runs
    with pytest.raises(DivlibError, match="dro"):
        mean_curves(training_curves(layout, "toy", ["nmf"]).drop("dro"))


def test_adaptive_steps_and_their_means_per_model_rule_and_step(layout):
    frame = adaptive_steps(layout, "toy", ["nmf"])
    assert frame.columns == [
        "model",
        "method",
        "seed",
        "step",
        "beta",
        "beta_low",
        "beta_high",
        "a",
        "b",
        "rho",
    ]
    assert frame.filter(method="ddt-adaptive", seed=2).select("beta", "a", "b", "rho").rows() == [
        (0.4, 1.0, 2.0, -0.5),
        (0.6, 1.0, 2.0, -0.5),
    ]
    means = mean_adaptive(frame)
    paper = means.filter(method="ddt-adaptive")
    assert paper["step"].to_list() == [1, 2]
    assert paper["beta"].to_list() == pytest.approx([0.3, 0.5])
    assert paper["beta_low"].to_list() == pytest.approx([0.2, 0.2])
    assert paper["beta_high"].to_list() == pytest.approx([0.6, 0.8])
    normalized = means.filter(method="ddt-adaptive-normalized")
    assert normalized.select("beta", "beta_low", "beta_high").rows() == [(0.5, 0.0, 1.0)] * 2


def test_a_log_without_a_column_or_a_missing_experiment_is_named(layout):
    log = layout.runs("toy", "nmf", "adaptive_beta") / "ddt-adaptive-seed1" / "steps.parquet"
    pl.read_parquet(log).drop("beta_low").write_parquet(log)
    with pytest.raises(DivlibError, match=r"steps.parquet: missing columns \['beta_low'\]"):
        adaptive_steps(layout, "toy", ["nmf"])
    with pytest.raises(DivlibError, match="ncf/adaptive_beta is missing"):
        adaptive_steps(layout, "toy", ["ncf"])
    with pytest.raises(DivlibError, match="adaptive_beta/summary.parquet is missing"):
        read_summaries(layout, "toy", ["nmf"], "adaptive_beta")


def test_case_run_takes_the_ddt_run_of_the_first_seed_at_the_chosen_beta():
    def runs(*identities):
        return [(Path(f"run{i}"), identity) for i, identity in enumerate(identities)]

    mdr = {"method": "mdr", "param": 0.2, "seed": 1}
    second = {"method": "ddt", "param": 0.2, "seed": 2}
    first = {"method": "ddt", "param": 0.5, "seed": 1}
    smaller_beta = {"method": "ddt", "param": 0.2, "seed": 1}
    assert case_run(runs(mdr, second, first), 0.5) == (Path("run2"), first)
    assert case_run(runs(mdr, second, first), 0.2) == (Path("run1"), second)
    assert case_run(runs(first, smaller_beta), 0.2) == (Path("run1"), smaller_beta)
    assert case_run(runs(first, second), 0.3) is None  # never another β in its place
    assert case_run(runs(mdr), 0.2) is None


def top_k(checkpoint: Path) -> list[list[int]]:
    """Each user's top K items, rated in training or validation excluded: by brute force."""
    payload = torch.load(checkpoint, weights_only=True)
    model = build_model("nmf", n_users=USERS, n_items=ITEMS, dim=2, seed=0)
    model.load_state_dict(payload["state"])
    with torch.no_grad():
        scores = model.score_all(torch.arange(USERS))
    scores[[0, 1, 2, 3], [0, 1, 2, 5]] = float("-inf")
    return scores.argsort(dim=1, descending=True)[:, :K].tolist()


def lists_of(frame: pl.DataFrame) -> list[list[int]]:
    return [frame.filter(user=user).sort("rank")["item"].to_list() for user in range(USERS)]


def test_the_case_study_compares_the_first_seeds_main_table_ddt_run_with_that_seeds_base(layout):
    case = load_case_study(layout, "toy", "nmf", K, beta=0.2)
    assert (case.model, case.run, case.param) == ("nmf", "ddt-beta0.2-seed1", 0.2)
    runs = layout.runs("toy", "nmf", "main_table")
    assert lists_of(case.before) == top_k(layout.base("toy", "nmf", 1))
    assert lists_of(case.before) != top_k(layout.base("toy", "nmf", 2))
    assert lists_of(case.after) == top_k(runs / "ddt-beta0.2-seed1" / "selected.pt")
    slots = case.before.select("item", "categories").rows()
    assert all(genres == CATEGORIES[item] for item, genres in slots)
    for run in ("ddt-beta0.2-seed1", "ddt-beta0.2-seed2"):
        (runs / run / "run.json").write_text(json.dumps({"method": "mdr", "param": 0.2, "seed": 1}))
    with pytest.raises(DivlibError, match="main_table has no ddt run at β = 0.2"):
        load_case_study(layout, "toy", "nmf", K, beta=0.2)


def load(layout: Layout):
    return load_figure_data(
        layout,
        "toy",
        sweep=["nmf"],
        curves=["nmf", "ncf"],
        adaptive=["nmf"],
        main=["nmf"],
        case="nmf",
        beta=0.2,
        k=K,
    )


def test_load_figure_data_gathers_what_each_figure_reads(layout):
    data = load(layout)
    assert data.sweep.select("model", "method", "dro").rows() == [
        ("nmf", "base", 0.5),
        ("nmf", "ddt", 0.9),
        ("nmf", "mdr", 0.8),
    ]
    # the baselines' rows and the sweep's fine-tuned ones: the pretrained model once
    assert data.tradeoff.select("method", "param", "dro").rows() == [
        ("base", None, 0.5),
        ("mmr", 0.5, 0.95),
        ("dum", None, 0.9),
        ("ddt", 0.5, 0.9),
        ("mdr", 0.5, 0.8),
    ]
    # Q2: per-run means at k over the main_table runs' seeds 1, 2 (the baselines' seed 3 left out)
    assert data.pareto.sort("method", "seed").select("method", "param", "seed", "dro").rows() == [
        ("base", None, 1, pytest.approx(0.105)),
        ("base", None, 2, pytest.approx(0.205)),
        ("ddt", 0.2, 1, pytest.approx(0.105)),
        ("ddt", 0.2, 2, pytest.approx(0.205)),
        ("mmr", 0.5, 1, pytest.approx(0.605)),
        ("mmr", 0.5, 2, pytest.approx(0.705)),
    ]
    assert data.curves.equals(mean_curves(training_curves(layout, "toy", ["nmf", "ncf"])))
    assert data.adaptive.equals(mean_adaptive(adaptive_steps(layout, "toy", ["nmf"])))
    assert data.sensitivity["eps"].to_list() == [0.01]
    assert data.categories == ["Comedy", "Drama", "Horror", "War"]
    case = load_case_study(layout, "toy", "nmf", K, beta=0.2)
    (before, before_shares), (after, after_shares) = data.shares.items()
    assert (before, after) == ("NMF, relevance only", "NMF, DDT β = 0.2")
    assert before_shares.tolist() == category_shares(case.before, data.categories).tolist()
    assert after_shares.tolist() == category_shares(case.after, data.categories).tolist()


def test_matched_per_user_keeps_every_run_to_the_same_seeds(layout):
    rows = matched_per_user(layout, "toy", ["nmf"], k=K)  # the seeds the main_table runs have
    assert sorted(set(rows.select("method", "seed").rows())) == [
        ("base", 1),
        ("base", 2),
        ("ddt", 1),
        ("ddt", 2),
        ("mmr", 1),
        ("mmr", 2),
    ]
    assert rows["k"].unique().to_list() == [K]
    chosen = matched_per_user(layout, "toy", ["nmf"], k=K, seeds=[2])
    assert chosen["seed"].unique().to_list() == [2] and chosen.height == 3 * 2  # 3 runs × 2 users
    with pytest.raises(DivlibError, match=r"main_table evaluation has no rows of seed\(s\) \[3\]"):
        matched_per_user(layout, "toy", ["nmf"], k=K, seeds=[1, 3])


def test_category_shares_count_a_slot_once_per_category_of_its_item():
    slots = pl.DataFrame({"categories": [["Drama"], ["Drama", "War"], ["Comedy"], ["Drama"]]})
    shares = category_shares(slots, ["Comedy", "Drama", "Horror", "War"])
    assert shares.tolist() == [0.25, 0.75, 0.0, 0.25]


def test_concentrated_user_takes_the_largest_single_category_share_then_the_smallest_id():
    lists = pl.DataFrame(
        {
            "user": [3, 3, 1, 1, 2, 2],
            "categories": [["Drama"], ["Drama", "War"], ["War"], ["War"], ["A"], ["B"]],
        }
    )
    assert concentrated_user(lists) == 1  # users 1 and 3: 2 of 2 slots; 1 < 3
    with pytest.raises(DivlibError, match="no slot has a category"):
        concentrated_user(pl.DataFrame({"user": [1], "categories": [[]]}))


def test_case_study_lists_titles_and_genres_side_by_side():
    titles = ["Toy Story", "Heat", "Alien", "Fargo"]
    categories = [["Animation", "Comedy"], ["Action", "Crime"], ["Horror", "Sci-Fi"], ["Crime"]]
    table = case_study([1, 3], [2, 0], titles, categories)
    assert table.to_dicts() == [
        {
            "rank": 1,
            "title_before": "Heat",
            "genres_before": "Action, Crime",
            "title_after": "Alien",
            "genres_after": "Horror, Sci-Fi",
        },
        {
            "rank": 2,
            "title_before": "Fargo",
            "genres_before": "Crime",
            "title_after": "Toy Story",
            "genres_after": "Animation, Comedy",
        },
    ]
    with pytest.raises(DivlibError, match="differ in length"):
        case_study([1, 3], [2], titles, categories)


def case_lists(items: pl.DataFrame, by_user: dict[int, list[int]]) -> pl.DataFrame:
    """Slots (user, rank, item, categories) of hand-made lists."""
    rows = [(u, r + 1, i) for u, its in by_user.items() for r, i in enumerate(its)]
    frame = pl.DataFrame(rows, schema=["user", "rank", "item"], orient="row")
    return frame.join(items.select("item", "categories"), on="item", how="left")


def test_table_v_shows_the_chosen_user_and_says_why_in_its_caption():
    items = pl.DataFrame(
        {
            "item": [0, 1, 2, 3],
            "title": ["Heat", "Fargo", "Alien", "Up"],
            "categories": [["Drama"], ["Drama"], ["War"], ["Comedy"]],
        }
    )
    before = case_lists(items, {0: [3, 2], 1: [0, 1]})
    after = case_lists(items, {0: [0, 1], 1: [2, 3]})
    case = CaseStudy("mf", "ddt-beta0.2-seed1", 0.2, before, after, items, 1)
    table = case_study_table(case, "toy", 2, user=1, reason="with the largest DRO@2 gain")
    assert table.caption == (
        "toy, user 1, with the largest DRO@2 gain (the rule of params.yaml case_study): top-2 of MF "
        "before and after ddt-beta0.2-seed1"
    )
    assert [cells[:3] for _, cells in table.rows] == [
        ("Heat", "Drama", "Alien"),
        ("Fargo", "Drama", "Up"),
    ]


def test_case_user_applies_its_rule_to_the_users_with_enough_training_ratings():
    users = pl.DataFrame(
        {
            "user": [0, 1, 2, 3],
            "train_ratings": [25, 40, 20, 5],
            "dro_before": [0.5, 0.6, 0.6, 0.4],
            "dro_after": [0.9, 0.65, 1.0, 1.0],
        }
    )  # gains 0.4, 0.05, 0.4 (user 2: a tie, larger id), 0.6 (user 3: 5 ratings)
    before = pl.DataFrame(
        {
            "user": [0, 0, 1, 1, 2, 2, 3, 3],
            "categories": [["A"], ["B"], ["A"], ["A", "B"], ["A"], ["C"], ["D"], ["D"]],
        }
    )  # user 1: 2 of 2 slots A; user 3: 2 of 2 D
    user, reason = case_user(users, before, rule="largest-dro-gain", min_train_ratings=20, k=10)
    assert (user, reason) == (
        0,
        "with the largest DRO@10 gain (+0.400: 0.500 → 0.900) among the 3 users with ≥ 20 "
        "training ratings",
    )
    assert case_user(users, before, rule="largest-dro-gain", min_train_ratings=5, k=10)[0] == 3
    user, reason = case_user(users, before, rule="most-concentrated", min_train_ratings=20, k=10)
    assert (user, reason) == (
        1,
        "whose pretrained list is the most concentrated in one genre (100% of its slots) among "
        "the 3 users with ≥ 20 training ratings",
    )
    with pytest.raises(
        DivlibError,
        match=r"case_study.min_train_ratings = 41: no user has that "
        r"many training ratings \(the most: 40\); lower it",
    ):
        case_user(users, before, rule="largest-dro-gain", min_train_ratings=41, k=10)
    with pytest.raises(DivlibError, match="case_study.rule 'random'"):
        case_user(users, before, rule="random", min_train_ratings=1, k=10)


def test_case_users_read_each_users_dro_before_and_after_from_the_evaluation(layout):
    """Fixture: users 0, 1, 2 have one training rating each, user 3 none; the case run is seed 1's."""

    def per_user(experiment: str, rows: list[tuple]) -> None:
        path = layout.per_user("toy", "nmf", experiment)
        path.parent.mkdir(parents=True, exist_ok=True)
        frame = pl.DataFrame(
            rows, schema=["method", "param", "seed", "k", "user", "dro"], orient="row"
        )
        frame.write_parquet(path)

    case = load_case_study(layout, "toy", "nmf", K, beta=0.2)
    layout.per_user("toy", "nmf", "baselines").unlink()  # the fixture's, replaced below
    with pytest.raises(DivlibError, match="baselines/per_user.parquet is missing"):
        case_users(layout, "toy", case, K)
    distractors = [
        ("base", None, 2, K, 0, 0.0),
        ("mmr", 0.5, 1, K, 0, 0.0),
        ("base", None, 1, 5, 0, 0.0),
    ]  # another seed, method, k
    per_user("baselines", [("base", None, 1, K, u, 0.5 + u / 10) for u in range(4)] + distractors)
    per_user(
        "main_table",
        [("ddt", 0.2, 1, K, u, 1.0 - u / 10) for u in range(4)]
        + [("ddt", 0.2, 2, K, 0, 0.0), ("ddt", 0.5, 1, K, 0, 0.0), ("mdr", 0.2, 1, K, 0, 0.0)],
    )
    users = case_users(layout, "toy", case, K)
    assert users.rows() == [(0, 1, 0.5, 1.0), (1, 1, 0.6, 0.9), (2, 1, 0.7, 0.8), (3, 0, 0.8, 0.7)]
    assert users.columns == ["user", "train_ratings", "dro_before", "dro_after"]
    per_user("main_table", [("mdr", 0.2, 1, K, 0, 0.0)])
    with pytest.raises(DivlibError, match="no ddt rows of seed 1 at k = 3"):
        case_users(layout, "toy", case, K)


def test_training_steps_tag_every_step_with_its_run(layout):
    run = layout.runs("toy", "ncf", "training_curves") / "ddt-beta0.2-seed1"
    with pytest.raises(DivlibError, match="ddt-beta0.2-seed1/steps.parquet is missing; rerun"):
        training_steps(layout, "toy", ["ncf"])
    pl.DataFrame(
        steps([0.2, 0.4], [0.1, 0.1], [0.5, 0.5]) | {"epoch": [1, 2], "ddro": [0.3, 0.6]}
    ).write_parquet(run / "steps.parquet")
    frame = training_steps(layout, "toy", ["ncf"])
    assert frame.columns == ["model", "method", "regime", "seed", "step", "epoch", "ddro", "dro"]
    assert frame.rows() == [
        ("ncf", "ddt", "finetune", 1, 1, 1, 0.3, 0.5),
        ("ncf", "ddt", "finetune", 1, 2, 2, 0.6, 0.5),
    ]
