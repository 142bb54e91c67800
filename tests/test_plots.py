"""The figures plot the right series: every line's data, colour, marker and label are read back and
compared with the input frame's values for its method, metric and model (all values distinct)."""

import numpy as np
import polars as pl
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from divlib import DivlibError, plots
from divlib.figure_data import CaseStudy, FigureData
from divlib.methods import BY_KEY

MODELS = ["nmf", "ncf"]
BETAS = [0.2, 0.5, 0.8]
GRID = {"ddt": BETAS, "mdr": BETAS, "mmr": [0.3, 0.5, 0.7, 0.9], "dpp": [0.5, 0.7, 0.9]}
POINTS = ["base", "dum", "ddt-adaptive"]
METRICS = ["dro", "relevance", "recall", "coverage"]
LABELS = {
    "dro": "DRO@10",
    "relevance": "relevance@10",
    "recall": "recall@10",
    "coverage": "coverage@10",
}
OFFSETS = {"dro": 0.5, "relevance": 1.5, "recall": 2.5, "coverage": 3.5}  # no two metrics alike


def make_summary(*, std: bool = True) -> pl.DataFrame:
    """A summary at k = 10 and 20 with every method; every (model, k, method, param, metric) has its
    own value, so that any swap of series shows."""
    entries = [(m, p) for m, ps in GRID.items() for p in ps] + [(m, None) for m in POINTS]
    rows = []
    for model_index, model in enumerate(MODELS):
        for k in (10, 20):
            for index, (method, param) in enumerate(entries):
                value = 0.1 * model_index + 0.01 * index + (0.001 if k == 20 else 0.0)
                rows.append(
                    {"model": model, "k": k, "method": method, "param": param}
                    | {metric: offset + value for metric, offset in OFFSETS.items()}
                    | {"dro_std": 0.002 + value / 10 if std else None}
                )
    return pl.DataFrame(rows)


def series(frame: pl.DataFrame, x: str, y: str, **where) -> np.ndarray:
    """The (x, y) points of the rows matching ``where``, in the order of x's parameter."""
    rows = frame.filter(**where).sort("param")
    return np.column_stack([rows[x].to_numpy(), rows[y].to_numpy()])


def assert_styled_as(line, method: str) -> None:
    look = BY_KEY[method]
    assert (line.get_color(), line.get_marker(), line.get_label()) == (
        look.color,
        look.marker,
        look.legend,
    )


def band_vertices(collection: PolyCollection) -> np.ndarray:
    return np.concatenate([path.vertices for path in collection.get_paths()])


def contains_points(vertices: np.ndarray, points: np.ndarray) -> bool:
    return all(np.isclose(vertices, point).all(axis=1).any() for point in points)


def test_beta_sweep_plots_each_methods_metric_against_beta_per_model():
    summary = make_summary()
    fig = plots.beta_sweep(summary, k=10)
    assert isinstance(fig, Figure)
    axes = np.array(fig.axes).reshape(len(METRICS), len(MODELS))
    for row, metric in enumerate(METRICS):
        for col, model in enumerate(MODELS):
            ax = axes[row, col]
            ddt, mdr, base = ax.get_lines()
            for line, method in ((ddt, "ddt"), (mdr, "mdr")):
                expected = series(summary, "param", metric, model=model, k=10, method=method)
                np.testing.assert_allclose(line.get_xydata(), expected)
                assert_styled_as(line, method)
            relevance_only = summary.filter(model=model, k=10, method="base")[metric][0]
            assert list(base.get_ydata()) == [relevance_only] * 2
            assert base.get_linestyle() == "--" and base.get_label() == BY_KEY["base"].legend
            assert ax.get_ylabel() == (LABELS[metric] if col == 0 else "")
    assert [ax.get_title() for ax in axes[0]] == ["NMF", "NCF"]


def test_beta_sweep_shades_dro_plus_minus_its_std_in_the_methods_colour():
    summary = make_summary()
    fig = plots.beta_sweep(summary, k=10)
    axes = np.array(fig.axes).reshape(len(METRICS), len(MODELS))
    for col, model in enumerate(MODELS):
        bands = [c for c in axes[0, col].collections if isinstance(c, PolyCollection)]
        for band, method in zip(bands, ("ddt", "mdr"), strict=True):
            rows = summary.filter(model=model, k=10, method=method).sort("param")
            x, y, std = (rows[c].to_numpy() for c in ("param", "dro", "dro_std"))
            vertices = band_vertices(band)
            assert contains_points(vertices, np.column_stack([x, y + std]))
            assert contains_points(vertices, np.column_stack([x, y - std]))
            assert tuple(band.get_facecolor()[0][:3]) == to_rgba(BY_KEY[method].color)[:3]
    assert not any(ax.collections for ax in axes[1:].flat)  # only DRO has a std


def test_beta_sweep_without_std_draws_no_band_and_rejects_a_missing_k():
    summary = make_summary(std=False)
    fig = plots.beta_sweep(summary, k=20, metrics=["dro"])
    assert len(fig.axes) == len(MODELS) and all(not ax.collections for ax in fig.axes)
    expected = series(summary, "param", "dro", model="ncf", k=20, method="mdr")
    np.testing.assert_allclose(fig.axes[1].get_lines()[1].get_xydata(), expected)
    with pytest.raises(DivlibError, match="k = 5"):
        plots.beta_sweep(summary, k=5)


def test_tradeoff_plots_dro_against_relevance_for_each_method_with_its_parameter_labels():
    summary = make_summary()
    fig = plots.tradeoff(summary, k=10)
    assert [ax.get_title() for ax in fig.axes] == ["NMF", "NCF"]
    for ax, model in zip(fig.axes, MODELS, strict=True):
        methods = [*plots.SWEPT, *POINTS]
        for line, method in zip(ax.get_lines(), methods, strict=True):
            expected = series(summary, "relevance", "dro", model=model, k=10, method=method)
            np.testing.assert_allclose(line.get_xydata(), expected)
            assert_styled_as(line, method)
        texts = iter(ax.texts)
        for method in plots.SWEPT:
            rows = summary.filter(model=model, k=10, method=method).sort("param")
            for relevance, dro, param in rows.select("relevance", "dro", "param").iter_rows():
                text = next(texts)
                assert text.get_text() == f"{BY_KEY[method].symbol}={param:g}"
                assert text.xy == pytest.approx((relevance, dro))
                assert text.get_color() == BY_KEY[method].color
        assert next(texts, None) is None
    assert fig.axes[0].get_ylabel() == "DRO@10" and fig.axes[0].get_xlabel() == "relevance@10"
    legend = [text.get_text() for text in fig.legends[0].get_texts()]  # as in the published figure
    assert legend == ["DDT", "MDR", "MMR", "DPP", "relevance only", "DUM", "DDT, adaptive β"]


def make_curves() -> pl.DataFrame:
    """Mean training curves: nmf fine-tuned (3 steps) and from scratch (2 steps), ncf fine-tuned only;
    every value distinct."""
    rows = []
    for model, regime, steps, offset in (
        ("nmf", "finetune", 3, 0.0),
        ("nmf", "scratch", 2, 0.3),
        ("ncf", "finetune", 3, 0.6),
    ):
        for step in range(1, steps + 1):
            rows.append({"model": model, "regime": regime, "step": step, "progress": step / steps,
                         "ddro": offset + step / 100, "dro": offset + 0.1 + step / 100})  # fmt: skip
    return pl.DataFrame(rows)


def test_training_curves_draw_soft_ddro_dashed_and_hard_dro_solid_per_regime():
    curves = make_curves()
    fig = plots.training_curves(curves)
    regimes = {"nmf": ("finetune", "scratch"), "ncf": ("finetune",)}
    for ax, (model, drawn) in zip(fig.axes, regimes.items(), strict=True):
        lines = iter(ax.get_lines())
        for regime in drawn:
            label, color = plots.REGIMES[regime]
            rows = curves.filter(model=model, regime=regime)
            for metric, style, name in (("ddro", "--", "DDRO (soft)"), ("dro", "-", "DRO (hard)")):
                line = next(lines)
                expected = np.column_stack([rows["progress"], rows[metric]])
                np.testing.assert_allclose(line.get_xydata(), expected)
                assert (line.get_color(), line.get_linestyle()) == (color, style)
                assert line.get_label() == f"{label}, {name}"
        assert next(lines, None) is None


def test_training_curves_need_the_hard_dro_column():
    with pytest.raises(DivlibError, match="dro"):
        plots.training_curves(make_curves().drop("dro"))


def test_adaptive_beta_band_draws_each_models_beta_inside_its_band():
    curves = pl.DataFrame({"model": ["nmf"] * 3 + ["ncf"] * 3, "step": [1, 2, 3] * 2,
                           "beta": [0.4, 0.5, 0.6, 0.2, 0.25, 0.3],
                           "beta_low": [0.1, 0.2, 0.3, 0.05, 0.1, 0.15],
                           "beta_high": [0.7, 0.8, 0.9, 0.35, 0.4, 0.45]})  # fmt: skip
    fig = plots.adaptive_beta_band(curves)
    for ax, model in zip(fig.axes, ("nmf", "ncf"), strict=True):
        rows = curves.filter(model=model)
        (beta,) = ax.get_lines()
        np.testing.assert_allclose(beta.get_xydata(), np.column_stack([rows["step"], rows["beta"]]))
        (band,) = ax.collections
        vertices = band_vertices(band)
        for bound in ("beta_low", "beta_high"):
            assert contains_points(vertices, np.column_stack([rows["step"], rows[bound]]))
        assert vertices[:, 1].min() == pytest.approx(rows["beta_low"].min())
        assert vertices[:, 1].max() == pytest.approx(rows["beta_high"].max())


def test_sensitivity_plots_each_k_against_log_eps():
    grid = ((1e-4, "0.0001"), (6e-4, "auto"), (1e-2, "0.01"))
    rows = [
        {"eps": eps, "eps_setting": setting, "k": k, "dro": 0.5 + k / 100 + i / 1000,
         "dro_before": 0.3 + k / 100 + i / 10000, "relevance": 0.8 + k / 1000 + i / 100}
        for i, (eps, setting) in enumerate(grid)
        for k in (20, 5, 10)
    ]  # fmt: skip
    results = pl.DataFrame(rows)
    fig = plots.sensitivity(results)
    left, right = fig.axes
    assert left.get_xscale() == right.get_xscale() == "log"
    left_lines, right_lines = left.get_lines(), right.get_lines()
    for index, k in enumerate((5, 10, 20)):
        per_k = results.filter(k=k).sort("eps")
        color = f"C{index}"
        curve, before = left_lines[2 * index : 2 * index + 2]
        np.testing.assert_allclose(
            curve.get_xydata(), np.column_stack([per_k["eps"], per_k["dro"]])
        )
        assert curve.get_label() == f"k = {k}" and curve.get_color() == color
        assert list(before.get_ydata()) == pytest.approx([per_k["dro_before"].mean()] * 2)
        assert before.get_color() == color and before.get_linestyle() == ":"
        expected = np.column_stack([per_k["eps"], per_k["relevance"]])
        np.testing.assert_allclose(right_lines[index].get_xydata(), expected)
    for ax in (left, right):
        auto = ax.get_lines()[-1]
        assert list(auto.get_xdata()) == [6e-4] * 2 and auto.get_linestyle() == "--"


def test_category_histogram_bars_are_the_given_shares():
    names = ["Comedy", "Drama", "Horror", "War"]
    shares = {"NMF, relevance only": np.array([0.25, 0.75, 0.0, 0.5]),
              "NMF, DDT β = 0.5": np.array([0.3, 0.2, 0.4, 0.1])}  # fmt: skip
    fig = plots.category_histogram(shares, names, k=5)
    (ax,) = fig.axes
    for container, (label, share) in zip(ax.containers, shares.items(), strict=True):
        assert [bar.get_height() for bar in container] == list(share)
        assert container.get_label() == label
    first, second = ax.containers
    assert [bar.get_x() + bar.get_width() for bar in first] == pytest.approx(
        [bar.get_x() for bar in second]
    )  # side by side, "before" on the left
    assert [label.get_text() for label in ax.get_xticklabels()] == names
    assert ax.get_ylabel() == "share of top-5 slots"


def figure_data(*, training: bool) -> FigureData:
    lists = pl.DataFrame({"user": [0], "rank": [1], "item": [0], "categories": [["Drama"]]})
    items = pl.DataFrame({"item": [0], "title": ["Heat"], "categories": [["Drama"]]})
    sensitivity = pl.DataFrame({"eps": [1e-3, 1e-2], "eps_setting": ["auto", "0.01"], "k": [10, 10],
                                "dro": [0.5, 0.6], "dro_before": [0.4, 0.4], "relevance": [0.9, 0.8]})  # fmt: skip
    return FigureData(
        summary=make_summary(),
        training=make_curves() if training else None,
        adaptive=None,
        sensitivity=sensitivity,
        categories=["Drama"],
        shares={"before": np.array([1.0]), "after": np.array([0.5])},
        case=CaseStudy("nmf", "ddt-beta0.5-seed1", 0.5, lists, lists, items),
    )


def test_paper_figures_builds_each_figure_that_has_runs():
    names = [name for name, _ in plots.paper_figures(figure_data(training=True), k=10)]
    assert names == [name for name in plots.FIGURES if name != "adaptive_beta"]
    drawn = dict(plots.paper_figures(figure_data(training=False), k=20))
    assert "training_curves" not in drawn
    (ax,) = drawn["category_histogram"].axes
    assert [bar.get_height() for bar in ax.containers[1]] == [0.5]
    assert drawn["beta_sweep"].axes[0].get_ylabel() == "DRO@20"


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


def test_a_method_outside_the_vocabulary_is_an_error():
    with pytest.raises(DivlibError, match="unknown method 'xyz'"):
        plots.beta_sweep(make_summary().with_columns(method=pl.lit("xyz")), methods=["xyz"])
