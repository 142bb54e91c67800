"""The figures' data: hand-worked means over seeds, slot shares, the case study's run, user and lists,
and everything gathered from a tiny pipeline output tree."""

import json
from pathlib import Path

import polars as pl
import pytest
import torch

from divlib import DivlibError
from divlib.figure_data import (
    CaseStudy,
    case_run,
    case_study,
    case_study_markdown,
    category_shares,
    concentrated_user,
    load_figure_data,
    mean_adaptive_beta,
    mean_training_curves,
    plot_series,
)
from divlib.layout import Layout
from divlib.models import build_model, save_model


def test_mean_training_curves_average_the_seeds_of_each_model_and_regime_over_epoch_progress():
    def run(model, regime, name, per_epoch, ddro, dro):
        steps = range(1, len(ddro) + 1)
        return pl.DataFrame({"model": model, "regime": regime, "run": name, "step": list(steps),
                             "epoch": [(s - 1) // per_epoch + 1 for s in steps], "ddro": ddro,
                             "dro": dro})  # fmt: skip

    steps = pl.concat([
        run("nmf", "finetune", "a", 2, [1.0, 2.0, 3.0, 4.0], [0.1, 0.2, 0.3, 0.4]),
        run("nmf", "finetune", "b", 2, [3.0, 4.0, 5.0, 6.0], [0.3, 0.2, 0.1, 0.0]),
        run("nmf", "scratch", "c", 3, [7.0, 8.0, 9.0], [0.7, 0.8, 0.9]),
        run("ncf", "finetune", "a", 2, [10.0, 20.0, 30.0, 40.0], [1.0, 2.0, 3.0, 4.0]),
    ])  # fmt: skip
    curves = mean_training_curves(steps)
    nmf = curves.filter(model="nmf", regime="finetune")
    assert nmf["progress"].to_list() == [0.5, 1.0, 1.5, 2.0]  # 2 steps per epoch
    assert nmf["ddro"].to_list() == [2.0, 3.0, 4.0, 5.0]  # means of runs a and b
    assert nmf["dro"].to_list() == pytest.approx([0.2, 0.2, 0.2, 0.2])
    scratch = curves.filter(model="nmf", regime="scratch")
    assert scratch["progress"].to_list() == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert scratch["ddro"].to_list() == [7.0, 8.0, 9.0]
    ncf = curves.filter(model="ncf")
    assert ncf["ddro"].to_list() == [10.0, 20.0, 30.0, 40.0]  # not mixed with nmf's run a
    with pytest.raises(DivlibError, match="dro"):
        mean_training_curves(steps.drop("dro"))


def test_mean_adaptive_beta_averages_beta_and_its_band_per_model_and_step():
    steps = pl.DataFrame({"model": ["nmf"] * 4 + ["ncf"] * 2, "run": ["a", "a", "b", "b", "a", "a"],
                          "step": [1, 2, 1, 2, 1, 2], "beta": [0.2, 0.4, 0.4, 0.8, 0.9, 0.1],
                          "beta_low": [0.1, 0.1, 0.3, 0.1, 0.5, 0.0],
                          "beta_high": [0.9, 0.7, 0.7, 0.9, 1.0, 0.2]})  # fmt: skip
    curves = mean_adaptive_beta(steps)
    nmf, ncf = curves.filter(model="nmf"), curves.filter(model="ncf")
    assert nmf["step"].to_list() == [1, 2]
    assert nmf["beta"].to_list() == pytest.approx([0.3, 0.6])
    assert nmf["beta_low"].to_list() == pytest.approx([0.2, 0.1])
    assert nmf["beta_high"].to_list() == pytest.approx([0.8, 0.8])
    assert ncf["beta"].to_list() == [0.9, 0.1]


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
        {"rank": 1, "title_before": "Heat", "genres_before": "Action, Crime",
         "title_after": "Alien", "genres_after": "Horror, Sci-Fi"},
        {"rank": 2, "title_before": "Fargo", "genres_before": "Crime",
         "title_after": "Toy Story", "genres_after": "Animation, Comedy"},
    ]  # fmt: skip
    with pytest.raises(DivlibError, match="differ in length"):
        case_study([1, 3], [2], titles, categories)


def test_case_run_prefers_ddt_at_beta_half_seed_one_else_the_first_ddt_run():
    def runs(*identities):
        return [(Path(f"run{i}"), identity) for i, identity in enumerate(identities)]

    mdr = {"method": "mdr", "param": 0.5, "seed": 1}
    first = {"method": "ddt", "param": 0.2, "seed": 1}
    wanted = {"method": "ddt", "param": 0.5, "seed": 1}
    scratch = {"method": "ddt-scratch", "param": 0.5, "seed": 1}
    assert case_run(runs(mdr, first, scratch, wanted)) == (Path("run3"), wanted)
    assert case_run(runs(mdr, {**wanted, "seed": 2}, first)) == (
        Path("run1"),
        {**wanted, "seed": 2},
    )
    assert case_run(runs(mdr, scratch)) is None


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


def save(model_seed: int, path: Path) -> torch.nn.Module:
    model = build_model("nmf", n_users=USERS, n_items=ITEMS, dim=2, seed=model_seed)
    save_model(path, model, name="nmf", config={"n_users": USERS, "n_items": ITEMS, "dim": 2})
    return model


def write_run(runs: Path, name: str, identity: dict, steps: dict, model_seed: int) -> None:
    (runs / name).mkdir(parents=True)
    (runs / name / "run.json").write_text(json.dumps(identity))
    pl.DataFrame(steps).write_parquet(runs / name / "steps.parquet")
    save(model_seed, runs / name / "selected.pt")


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    """A tiny output tree of dataset "toy", model "nmf": splits, items, the base model, four runs
    (DDT at β 0.2 and 0.5, DDT-adaptive, DDT from scratch at 0.5), a summary, sensitivity results."""
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
        {"item": list(range(ITEMS))[::-1], "title": [f"t{i}" for i in range(ITEMS)][::-1],
         "categories": CATEGORIES[::-1]}
    ).write_parquet(prepared / "items.parquet")  # fmt: skip
    save(1, layout.base("toy", "nmf"))
    runs = layout.runs("toy", "nmf")
    two = {"step": [1, 2], "epoch": [1, 1]}
    write_run(runs, "ddt-beta0.2-seed1", {"method": "ddt", "param": 0.2, "seed": 1,
              "regime": "finetune"}, two | {"ddro": [9.0, 9.0], "dro": [9.0, 9.0]}, 2)  # fmt: skip
    write_run(runs, "ddt-beta0.5-seed1", {"method": "ddt", "param": 0.5, "seed": 1,
              "regime": "finetune"}, two | {"ddro": [0.1, 0.2], "dro": [0.3, 0.4]}, 3)  # fmt: skip
    write_run(runs, "ddt-scratch-beta0.5-seed1", {"method": "ddt-scratch", "param": 0.5, "seed": 1,
              "regime": "scratch"}, two | {"ddro": [0.5, 0.6], "dro": [0.7, 0.8]}, 4)  # fmt: skip
    write_run(runs, "ddt-adaptive-seed1", {"method": "ddt-adaptive", "param": None, "seed": 1,
              "regime": "finetune"}, two | {"ddro": [0.0, 0.0], "dro": [0.0, 0.0], "beta": [0.4, 0.6],
              "beta_low": [0.1, 0.2], "beta_high": [0.8, 0.9]}, 5)  # fmt: skip
    summary = layout.evaluation("toy", "nmf") / "summary.parquet"
    summary.parent.mkdir(parents=True)
    pl.DataFrame({"k": [K], "method": ["base"], "param": [None], "dro": [0.5]}).write_parquet(
        summary
    )
    layout.sensitivity("toy").parent.mkdir(parents=True)
    pl.DataFrame({"eps": [0.01], "k": [K]}).write_parquet(layout.sensitivity("toy"))
    return layout


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


def test_load_figure_data_gathers_every_figures_data(layout):
    data = load_figure_data(layout, "toy", models=["nmf"], k=K, scratch_beta=0.5)
    assert data.summary["model"].to_list() == ["nmf"] and data.summary["dro"].to_list() == [0.5]
    # DDT at the scratch β, fine-tuned and from scratch: not DDT at β = 0.2, not the adaptive run
    training = data.training.sort("regime", "step").select("regime", "ddro", "dro").rows()
    assert training == [("finetune", 0.1, 0.3), ("finetune", 0.2, 0.4), ("scratch", 0.5, 0.7),
                        ("scratch", 0.6, 0.8)]  # fmt: skip
    adaptive = data.adaptive.select("step", "beta", "beta_low", "beta_high").rows()
    assert adaptive == [(1, 0.4, 0.1, 0.8), (2, 0.6, 0.2, 0.9)]
    assert data.sensitivity["eps"].to_list() == [0.01]
    case = data.case
    assert (case.model, case.run, case.param) == ("nmf", "ddt-beta0.5-seed1", 0.5)
    runs = layout.runs("toy", "nmf")
    assert lists_of(case.before) == top_k(layout.base("toy", "nmf"))
    assert lists_of(case.after) == top_k(runs / "ddt-beta0.5-seed1" / "selected.pt")
    assert lists_of(case.before) != lists_of(case.after)
    categories = case.before.select("item", "categories").rows()
    assert all(genres == CATEGORIES[item] for item, genres in categories)
    assert data.categories == ["Comedy", "Drama", "Horror", "War"]
    before, after = data.shares.items()
    assert before[0] == "NMF, relevance only" and after[0] == "NMF, DDT β = 0.5"
    assert before[1].tolist() == category_shares(case.before, data.categories).tolist()
    assert after[1].tolist() == category_shares(case.after, data.categories).tolist()


def test_the_case_study_shows_the_lists_of_the_user_most_concentrated_before_fine_tuning():
    items = pl.DataFrame({"item": [0, 1, 2, 3], "title": ["Heat", "Fargo", "Alien", "Up"],
                          "categories": [["Drama"], ["Drama"], ["War"], ["Comedy"]]})  # fmt: skip

    def lists(by_user: dict[int, list[int]]) -> pl.DataFrame:
        rows = [(u, r + 1, i) for u, its in by_user.items() for r, i in enumerate(its)]
        frame = pl.DataFrame(rows, schema=["user", "rank", "item"], orient="row")
        return frame.join(items.select("item", "categories"), on="item", how="left")

    before = lists({0: [3, 2], 1: [0, 1]})  # user 1: all Drama
    after = lists({0: [0, 1], 1: [2, 3]})  # after, user 0 would be the concentrated one
    case = CaseStudy("mf", "ddt-beta0.5-seed2", 0.5, before, after, items)
    heading, table = case_study_markdown(case, "toy", 2).split("\n\n")
    assert heading == "# toy, user 1: top-2 of MF before and after ddt-beta0.5-seed2"
    rows = [line.split(" | ")[1:4] for line in table.strip().split("\n")[2:]]
    assert rows == [["Heat", "Drama", "Alien"], ["Fargo", "Drama", "Up"]]


def test_without_a_ddt_run_the_case_study_names_the_runs_folder(layout):
    for run in ("ddt-beta0.2-seed1", "ddt-beta0.5-seed1"):
        (layout.runs("toy", "nmf") / run / "run.json").write_text(
            json.dumps({"method": "mdr", "param": 0.5, "seed": 1, "regime": "finetune"})
        )
    with pytest.raises(DivlibError, match="runs has no ddt run"):
        load_figure_data(layout, "toy", models=["nmf"], k=K, scratch_beta=0.5)


def test_plot_series_are_one_frame_per_model_and_regime_without_the_keys(layout):
    series = plot_series(load_figure_data(layout, "toy", models=["nmf"], k=K, scratch_beta=0.5))
    assert list(series) == ["training/nmf-finetune", "training/nmf-scratch", "adaptive_beta/nmf"]
    scratch = series["training/nmf-scratch"]
    assert scratch.columns == ["step", "progress", "ddro", "dro"]
    assert scratch.rows() == [(1, 0.5, 0.5, 0.7), (2, 1.0, 0.6, 0.8)]
    assert series["adaptive_beta/nmf"].columns == ["step", "beta", "beta_low", "beta_high"]
