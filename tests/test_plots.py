import numpy as np
import polars as pl
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from divlib import DivlibError, plots

MODELS = ["nmf", "ncf"]
BETAS = [0.2, 0.5, 0.8]
GRID = {"ddt": BETAS, "mdr": BETAS, "mmr": [0.3, 0.5, 0.7, 0.9], "dpp": [0.5, 0.7, 0.9]}
POINTS = ["base", "dum", "ddt-adaptive"]


def make_summary(*, std: bool = True) -> pl.DataFrame:
    """A summary at k = 10 and 20 with every method, shaped like evaluate's summary.parquet."""
    rows = []
    for model in MODELS:
        for k in (10, 20):
            entries = [(m, p) for m, ps in GRID.items() for p in ps] + [(m, None) for m in POINTS]
            for index, (method, param) in enumerate(entries):
                value = 0.5 + 0.01 * index
                rows.append({"model": model, "k": k, "method": method, "param": param,
                             "dro": value, "relevance": 1 - value, "recall": value / 10,
                             "coverage": value / 2, "dro_std": 0.01 if std else None})  # fmt: skip
    return pl.DataFrame(rows)


def make_steps(regimes=("finetune", "scratch"), seeds=(1, 2)) -> pl.DataFrame:
    """Step logs: 2 epochs of 4 steps fine-tuned, 3 epochs of 2 steps from scratch."""
    shapes = {"finetune": (2, 4), "scratch": (3, 2)}
    rows = []
    for model in MODELS:
        for regime in regimes:
            epochs, per_epoch = shapes[regime]
            for seed in seeds:
                for step in range(1, epochs * per_epoch + 1):
                    rows.append({"model": model, "regime": regime, "run": f"{regime}-seed{seed}",
                                 "step": step, "epoch": (step - 1) // per_epoch + 1,
                                 "ddro": 0.1 * step + seed, "dro": 0.1 * step, "beta": 0.3 + seed / 10,
                                 "beta_low": 0.1, "beta_high": 0.9})  # fmt: skip
    return pl.DataFrame(rows)


def lines_of(ax) -> list:
    return list(ax.get_lines())


def test_beta_sweep_has_a_panel_per_metric_and_model_and_a_line_per_method():
    fig = plots.beta_sweep(make_summary(), k=10)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 4 * len(MODELS)
    for index, ax in enumerate(fig.axes):
        ddt, mdr, base = lines_of(ax)
        assert len(ddt.get_xdata()) == len(mdr.get_xdata()) == len(BETAS)
        assert base.get_linestyle() == "--"
        bands = sum(isinstance(c, PolyCollection) for c in ax.collections)
        assert bands == (2 if index < len(MODELS) else 0)  # ± std: only DRO (row 1) has dro_std
    ax = fig.axes[0]  # DRO@10 of nmf
    assert list(lines_of(ax)[0].get_xdata()) == BETAS and ax.get_ylabel() == "DRO@10"


def test_beta_sweep_without_std_draws_no_band_and_rejects_a_missing_k():
    fig = plots.beta_sweep(make_summary(std=False), k=20, metrics=["dro"])
    assert len(fig.axes) == len(MODELS) and all(not ax.collections for ax in fig.axes)
    with pytest.raises(DivlibError, match="k = 5"):
        plots.beta_sweep(make_summary(), k=5)


def test_tradeoff_has_a_curve_per_swept_method_and_a_point_per_single_method():
    fig = plots.tradeoff(make_summary(), k=10)
    assert len(fig.axes) == len(MODELS)
    for ax in fig.axes:
        lines = lines_of(ax)
        assert [len(line.get_xdata()) for line in lines] == [len(p) for p in GRID.values()] + [
            1
        ] * len(POINTS)
        assert len(ax.texts) == sum(len(p) for p in GRID.values())
    assert fig.axes[0].texts[0].get_text() == "β=0.2"


def test_training_curves_average_seeds_over_epoch_progress():
    steps = make_steps()
    curves = plots.mean_training_curves(steps)
    finetune = curves.filter((pl.col("model") == "nmf") & (pl.col("regime") == "finetune"))
    assert finetune["progress"].to_list() == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
    assert finetune["ddro"][0] == pytest.approx(0.1 + 1.5)  # mean over seeds 1 and 2
    fig = plots.training_curves(steps)
    assert len(fig.axes) == len(MODELS)
    for ax in fig.axes:
        lines = lines_of(ax)
        assert [len(line.get_xdata()) for line in lines] == [8, 8, 6, 6]
        assert [line.get_linestyle() for line in lines] == ["--", "-", "--", "-"]


def test_training_curves_need_the_hard_dro_column():
    with pytest.raises(DivlibError, match="dro"):
        plots.training_curves(make_steps().drop("dro"))


def test_adaptive_beta_band_draws_beta_inside_its_band():
    fig = plots.adaptive_beta_band(make_steps(regimes=("finetune",)))
    assert len(fig.axes) == len(MODELS)
    for ax in fig.axes:
        (beta,) = lines_of(ax)
        assert len(beta.get_xdata()) == 8
        assert np.allclose(beta.get_ydata(), 0.45)  # mean of 0.4 and 0.5
        assert len(ax.collections) == 1


def test_sensitivity_plots_each_k_against_log_eps():
    rows = [
        {"eps": eps, "eps_setting": setting, "k": k, "dro": 0.9, "dro_before": 0.6,
         "relevance": 0.95, "val_mse": 0.9}
        for eps, setting in ((1e-4, "0.0001"), (6e-4, "auto"), (1e-2, "0.01"))
        for k in (5, 10, 20)
    ]  # fmt: skip
    fig = plots.sensitivity(pl.DataFrame(rows))
    left, right = fig.axes
    assert left.get_xscale() == right.get_xscale() == "log"
    # per k: a line over ε (3 points), and on the left the pretrained DRO; both: ε = 1/m
    assert len(lines_of(left)) == 3 + 3 + 1 + 1 and len(lines_of(right)) == 3 + 1  # + legend entry
    assert all(len(line.get_xdata()) == 3 for line in lines_of(right)[:3])


def test_category_histogram_bars_are_slot_shares():
    before = pl.DataFrame({"categories": [["Drama"], ["Drama", "War"], ["Comedy"], ["Drama"]]})
    after = pl.DataFrame({"categories": [["Drama"], ["Horror"], ["Comedy", "War"], []]})
    names = ["Comedy", "Drama", "Horror", "War"]
    fig = plots.category_histogram(before, after, names)
    (ax,) = fig.axes
    first, second = ax.containers
    assert [bar.get_height() for bar in first] == [0.25, 0.75, 0.0, 0.25]
    assert [bar.get_height() for bar in second] == [0.25, 0.25, 0.25, 0.25]
    assert [label.get_text() for label in ax.get_xticklabels()] == names


def test_concentrated_user_takes_the_largest_single_category_share_then_the_smallest_id():
    lists = pl.DataFrame(
        {
            "user": [3, 3, 1, 1, 2, 2],
            "categories": [["Drama"], ["Drama", "War"], ["War"], ["War"], ["A"], ["B"]],
        }
    )
    assert plots.concentrated_user(lists) == 1  # users 1 and 3: 2 of 2 slots; 1 < 3


def test_case_study_lists_titles_and_genres_side_by_side():
    titles = ["Toy Story", "Heat", "Alien", "Fargo"]
    categories = [["Animation", "Comedy"], ["Action", "Crime"], ["Horror", "Sci-Fi"], ["Crime"]]
    table = plots.case_study([1, 3], [2, 0], titles, categories)
    assert table.to_dicts() == [
        {"rank": 1, "title_before": "Heat", "genres_before": "Action, Crime",
         "title_after": "Alien", "genres_after": "Horror, Sci-Fi"},
        {"rank": 2, "title_before": "Fargo", "genres_before": "Crime",
         "title_after": "Toy Story", "genres_after": "Animation, Comedy"},
    ]  # fmt: skip
    with pytest.raises(DivlibError, match="differ in length"):
        plots.case_study([1, 3], [2], titles, categories)


def test_save_figure_is_byte_stable_and_leaves_no_temporary(tmp_path):
    fig = plots.tradeoff(make_summary(), k=10)
    first = [path.read_bytes() for path in plots.save_figure(fig, tmp_path / "a" / "tradeoff")]
    again = plots.save_figure(plots.tradeoff(make_summary(), k=10), tmp_path / "a" / "tradeoff")
    assert [path.name for path in again] == ["tradeoff.png", "tradeoff.pdf"]
    assert [path.read_bytes() for path in again] == first
    assert first[0].startswith(b"\x89PNG\r\n\x1a\n") and first[1].startswith(b"%PDF-")
    assert b"CreationDate" not in first[1] and b"Matplotlib" not in first[0] + first[1]
    assert sorted(path.name for path in (tmp_path / "a").iterdir()) == [
        "tradeoff.pdf",
        "tradeoff.png",
    ]
