"""The figures plot the right series: every line's data, colour, marker and label are read back and
compared with the input frame's values for its method, metric and model (all values distinct)."""

import numpy as np
import polars as pl
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from divlib import DivlibError
from divlib.study import plots
from divlib.study.figure_data import FigureData
from divlib.study.methods import BY_KEY

MODELS = ["nmf", "ncf"]
BETAS = [0.0, 0.5, 1.0]
GRID = {"ddt": BETAS, "mdr": BETAS, "mmr": [0.3, 0.5, 0.7, 0.9], "dpp": [0.5, 0.7, 0.9]}
POINTS = ["base", "dum", "mmr-paper", "dpp-paper"]
OFFSETS = {
    "dro": 0.5,
    "relevance": 1.5,
    "recall": 2.5,
    "coverage": 3.5,
    "mse": 4.5,
    "hr": 5.5,
    "precision_test": 6.5,
    "ndcg": 7.5,
    "item_coverage": 8.5,
}
LABELS = {
    "recall": "recall@10",
    "dro": "DRO@10",
    "coverage": "category coverage@10",
    "item_coverage": "item coverage@10",
    "ndcg": "NDCG@10",
}


def make_summary(*, std: bool = True, mse: bool = True) -> pl.DataFrame:
    """A summary at k = 10 and 20 with every method; every (model, k, method, param, metric) has its
    own value (:data:`OFFSETS` apart), so that any swap of series shows; a std for every metric."""
    entries = [(m, p) for m, ps in GRID.items() for p in ps] + [(m, None) for m in POINTS]
    metrics = [metric for metric in OFFSETS if mse or metric != "mse"]
    rows = []
    for model_index, model in enumerate(MODELS):
        for k in (10, 20):
            for index, (method, param) in enumerate(entries):
                value = 0.1 * model_index + 0.01 * index + (0.001 if k == 20 else 0.0)
                rows.append(
                    {"model": model, "k": k, "method": method, "param": param}
                    | {metric: OFFSETS[metric] + value for metric in metrics}
                    | {f"{metric}_std": 0.002 + value / 10 if std else None for metric in metrics}
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


def assert_band(
    band: PolyCollection, x: np.ndarray, y: np.ndarray, std: np.ndarray, color: str
) -> None:
    """``band`` shades y ± std along x, in ``color``."""
    vertices = band_vertices(band)
    assert contains_points(vertices, np.column_stack([x, y + std]))
    assert contains_points(vertices, np.column_stack([x, y - std]))
    assert tuple(band.get_facecolor()[0][:3]) == to_rgba(color)[:3]


def legend_texts(fig: Figure) -> list[str]:
    return [text.get_text() for text in fig.legends[0].get_texts()]


def test_fig1_plots_each_models_metrics_against_beta_with_the_control_and_the_pretrained_line():
    summary = make_summary()
    fig = plots.beta_sweep(summary, k=10)
    assert isinstance(fig, Figure)
    axes = np.array(fig.axes).reshape(len(MODELS), len(plots.SWEEP_METRICS))
    for row, model in enumerate(MODELS):
        for col, metric in enumerate(plots.SWEEP_METRICS):
            ax = axes[row, col]
            ddt, mdr, base, control = ax.get_lines()
            for line, method in ((ddt, "ddt"), (mdr, "mdr")):
                expected = series(summary, "param", metric, model=model, k=10, method=method)
                np.testing.assert_allclose(line.get_xydata(), expected)
                assert_styled_as(line, method)
            pretrained = summary.filter(model=model, k=10, method="base")[metric][0]
            assert list(base.get_ydata()) == [pretrained] * 2
            assert base.get_linestyle() == "--" and base.get_label() == BY_KEY["base"].legend
            assert list(control.get_xdata()) == [1.0] * 2 and control.get_linestyle() == ":"
            assert ax.get_title() == f"{model.upper()}: {LABELS[metric]}"
    assert [ax.get_xlabel() for ax in axes[-1]] == ["β"] * len(plots.SWEEP_METRICS)
    assert legend_texts(fig)[:3] == ["DDT", "MDR", "relevance only"]


def test_fig1_shades_each_metric_plus_minus_its_std_in_the_methods_colour():
    summary = make_summary()
    fig = plots.beta_sweep(summary, k=10)
    axes = np.array(fig.axes).reshape(len(MODELS), len(plots.SWEEP_METRICS))
    for row, model in enumerate(MODELS):
        for col, metric in enumerate(plots.SWEEP_METRICS):
            bands = [c for c in axes[row, col].collections if isinstance(c, PolyCollection)]
            for band, method in zip(bands, ("ddt", "mdr"), strict=True):
                rows = summary.filter(model=model, k=10, method=method).sort("param")
                x, y, std = (rows[c].to_numpy() for c in ("param", metric, f"{metric}_std"))
                assert_band(band, x, y, std, BY_KEY[method].color)


def test_fig1_without_std_draws_no_band_and_rejects_a_missing_k():
    summary = make_summary(std=False)
    fig = plots.beta_sweep(summary, k=20, metrics=["dro"])
    assert len(fig.axes) == len(MODELS) and all(not ax.collections for ax in fig.axes)
    expected = series(summary, "param", "dro", model="ncf", k=20, method="mdr")
    np.testing.assert_allclose(fig.axes[1].get_lines()[1].get_xydata(), expected)
    with pytest.raises(DivlibError, match="k = 5"):
        plots.beta_sweep(summary, k=5)


def test_fig4_shows_test_mse_hr_and_precision_and_leaves_out_a_missing_mse():
    summary = make_summary()
    fig = plots.beta_sweep(summary, k=10, metrics=plots.appendix_metrics(summary))
    titles = [ax.get_title() for ax in fig.axes]
    labels = ("MSE (test ratings)", "HR@10 (test items)", "precision@10 (test items)")
    assert titles == [f"{model}: {label}" for model in ("NMF", "NCF") for label in labels]
    mse = fig.axes[3].get_lines()[0]  # NCF, DDT
    np.testing.assert_allclose(
        mse.get_xydata(), series(summary, "param", "mse", model="ncf", k=10, method="ddt")
    )
    assert not any(ax.texts for ax in fig.axes)
    for without in (make_summary(mse=False), summary.with_columns(mse=None)):
        assert plots.appendix_metrics(without) == ["hr", "precision_test"]
    fig = plots.beta_sweep(without, k=10, metrics=plots.appendix_metrics(without))
    assert [ax.get_title() for ax in fig.axes][:2] == [
        "NMF: HR@10 (test items)",
        "NMF: precision@10 (test items)",
    ]


def test_fig4_says_so_in_a_panel_of_a_model_without_the_metric():
    summary = make_summary().with_columns(
        mse=pl.when(pl.col("model") == "nmf").then(None).otherwise(pl.col("mse"))
    )
    assert plots.appendix_metrics(summary) == list(plots.APPENDIX_METRICS)
    fig = plots.beta_sweep(summary, k=10, metrics=["mse", "hr"])
    nmf_mse, nmf_hr, ncf_mse, ncf_hr = fig.axes
    assert [text.get_text() for text in nmf_mse.texts] == ["not in this model's summary"]
    assert not nmf_hr.texts and not ncf_mse.texts and not ncf_hr.texts


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
    assert fig.axes[0].get_ylabel() == "DRO@10"
    assert fig.axes[0].get_xlabel() == "predicted relevance@10 (eq. 12)"
    assert legend_texts(fig) == [
        "DDT",
        "MDR",
        "MMR",
        "DPP",
        "relevance only",
        "DUM",
        "MMR, EXPLORE",
        "DPP, EXPLORE",
    ]


def test_tradeoff_labels_the_ends_and_a_few_points_of_a_long_curve():
    betas = [round(0.1 * i, 1) for i in range(11)]
    summary = pl.DataFrame(
        {
            "model": "nmf",
            "k": 10,
            "method": "ddt",
            "param": betas,
            "dro": [1 - b / 2 for b in betas],
            "relevance": betas,
        }
    )
    (ax,) = plots.tradeoff(summary, k=10).axes
    assert [text.get_text() for text in ax.texts] == ["β=0", "β=0.3", "β=0.6", "β=0.9", "β=1"]


PARETO_GRID = {"mmr": [0.3, 0.7], "dpp": [0.5, 0.9], "ddt": [0.2, 0.5], "mdr": [0.2]}


def make_runs() -> pl.DataFrame:
    """Per-run means at k = 10 of seeds 1 and 2: every setting of Q2's figures, distinct values;
    seed 2 is seed 1 plus 0.02 (DRO) and 0.004 (relevance measures), so the std over the two seeds
    is 0.02/√2 and 0.004/√2."""
    entries = [(m, p) for m, ps in PARETO_GRID.items() for p in ps]
    entries += [(m, None) for m in plots.PARETO_POINTS]
    rows = []
    for model_index, model in enumerate(MODELS):
        for index, (method, param) in enumerate(entries):
            value = 0.1 * model_index + 0.01 * index
            for seed in (1, 2):
                rows.append(
                    {
                        "model": model,
                        "k": 10,
                        "method": method,
                        "param": param,
                        "seed": seed,
                        "dro": 0.5 + value + 0.02 * (seed - 1),
                        "relevance": 0.4 + value + 0.004 * (seed - 1),
                        "ndcg": 0.01 + value / 10 + 0.004 * (seed - 1),
                    }
                )
    return pl.DataFrame(rows)


@pytest.mark.parametrize("measure", ["relevance", "ndcg"])
def test_pareto_plots_curves_points_and_finetuned_points_with_seed_bars(measure):
    runs = make_runs()
    fig = plots.pareto(runs, k=10, measure=measure)
    means = runs.group_by("model", "method", "param").agg(pl.col("dro", measure).mean())
    assert [ax.get_title() for ax in fig.axes] == ["NMF", "NCF"]
    for ax, model in zip(fig.axes, MODELS, strict=True):
        methods = [*plots.PARETO_CURVES, *plots.PARETO_POINTS]
        for line, method in zip(ax.get_lines()[: len(methods)], methods, strict=True):
            expected = series(means, measure, "dro", model=model, method=method)
            np.testing.assert_allclose(line.get_xydata(), expected)
            assert_styled_as(line, method)
        bars = {c.get_label(): c for c in ax.containers}
        for method in plots.PARETO_FINETUNED:
            container = bars[f"{BY_KEY[method].legend} (± std over seeds)"]
            data_line, _, (xbars, ybars) = container.lines
            expected = series(means, measure, "dro", model=model, method=method)
            np.testing.assert_allclose(data_line.get_xydata(), expected)
            widths = [np.ptp(segment[:, 0]) / 2 for segment in xbars.get_segments()]
            heights = [np.ptp(segment[:, 1]) / 2 for segment in ybars.get_segments()]
            np.testing.assert_allclose(widths, 0.004 / np.sqrt(2))  # ± the std over seeds
            np.testing.assert_allclose(heights, 0.02 / np.sqrt(2))
        (shade,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
        ddt = series(means, measure, "dro", model=model, method="ddt")[0]  # β = 0.2, the first
        vertices = band_vertices(shade)
        assert np.isclose(vertices, ddt).all(axis=1).any()  # the dominated quadrant's corner
        assert (vertices >= ddt - 1e-12).all()  # right of and above DDT only
        labels = [text.get_text() for text in ax.texts]
        assert labels == ["λ=0.3", "λ=0.7", "θ=0.5", "θ=0.9", "β=0.2", "β=0.5", "β=0.2"]
    expected = "predicted relevance@10 (eq. 12)" if measure == "relevance" else "NDCG@10"
    assert fig.axes[0].get_xlabel() == expected and fig.axes[0].get_ylabel() == "DRO@10"
    legend = legend_texts(fig)
    assert "DDT (± std over seeds)" in legend and "Most popular" in legend and "Random" in legend


def make_curves(*, std: bool = True) -> pl.DataFrame:
    """Mean training curves: nmf DDT fine-tuned (3 epochs) and from scratch (2), nmf MDR fine-tuned,
    ncf DDT fine-tuned; every value distinct."""
    rows = []
    cells = [
        ("nmf", "ddt", "finetune", 3),
        ("nmf", "ddt", "scratch", 2),
        ("nmf", "mdr", "finetune", 3),
        ("ncf", "ddt", "finetune", 3),
    ]
    for index, (model, method, regime, epochs) in enumerate(cells):
        for epoch in range(1, epochs + 1):
            value = index / 10 + epoch / 100
            rows.append(
                {
                    "model": model,
                    "method": method,
                    "regime": regime,
                    "epoch": epoch,
                    "ddro": value,
                    "dro": value + 0.05,
                    "ddro_std": 0.01 + value / 50 if std else None,
                    "dro_std": 0.02 + value / 50 if std else None,
                }
            )
    return pl.DataFrame(rows)


def test_fig2_draws_hard_dro_solid_and_soft_ddro_dashed_per_regime_in_model_by_method_panels():
    curves = make_curves()
    fig = plots.training_curves(curves, k=10)
    axes = np.array(fig.axes).reshape(2, 2)  # rows nmf, ncf; columns ddt, mdr
    assert [ax.get_title() for ax in axes.flat] == ["NMF, DDT", "NMF, MDR", "NCF, DDT", "NCF, MDR"]
    drawn = {
        (0, 0): ("finetune", "scratch"),
        (0, 1): ("finetune",),
        (1, 0): ("finetune",),
        (1, 1): (),
    }
    for (row, col), regimes in drawn.items():
        ax, model, method = axes[row, col], MODELS[row], ("ddt", "mdr")[col]
        lines, bands = iter(ax.get_lines()), iter(ax.collections)
        for regime in regimes:
            name, color = plots.REGIMES[regime]
            rows = curves.filter(model=model, method=method, regime=regime)
            for metric, style, label in (
                ("dro", "-", "DRO@10 (hard)"),
                ("ddro", "--", "DDRO (soft)"),
            ):
                line = next(lines)
                expected = np.column_stack([rows["epoch"], rows[metric]])
                np.testing.assert_allclose(line.get_xydata(), expected)
                assert (line.get_color(), line.get_linestyle()) == (color, style)
                assert line.get_label() == f"{name}, {label}"
                x, y, std = (rows[c].to_numpy() for c in ("epoch", metric, f"{metric}_std"))
                assert_band(next(bands), x, y, std, color)
        assert next(lines, None) is None and next(bands, None) is None
    assert axes[1, 0].get_xlabel() == "epoch"


def test_fig2_with_one_seed_draws_no_band_and_needs_the_hard_dro():
    fig = plots.training_curves(make_curves(std=False), k=5)
    assert not any(ax.collections for ax in fig.axes)
    assert fig.axes[0].get_lines()[0].get_label() == "fine-tuned, DRO@5 (hard)"
    with pytest.raises(DivlibError, match="dro"):
        plots.training_curves(make_curves().drop("dro"))


def make_steps() -> pl.DataFrame:
    """Mean adaptive-β steps of both rules for nmf and ncf; every value distinct."""
    rows = []
    for index, (model, method) in enumerate(
        (m, r) for m in MODELS for r in ("ddt-adaptive", "ddt-adaptive-normalized")
    ):
        for step in (1, 2, 3):
            low = index / 10 + step / 100
            rows.append(
                {
                    "model": model,
                    "method": method,
                    "step": step,
                    "beta": low + 0.2,
                    "beta_low": low,
                    "beta_high": low + 0.5,
                }
            )
    return pl.DataFrame(rows)


def test_lemma3_draws_each_rules_beta_inside_its_feasible_interval_per_model():
    steps = make_steps()
    fig = plots.adaptive_beta(steps)
    axes = np.array(fig.axes).reshape(2, 2)
    for row, model in enumerate(MODELS):
        for col, method in enumerate(plots.ADAPTIVE):
            ax = axes[row, col]
            name, color = plots.ADAPTIVE[method]
            assert ax.get_title() == f"{model.upper()}, {name}"
            rows = steps.filter(model=model, method=method)
            (beta,) = ax.get_lines()
            np.testing.assert_allclose(beta.get_xydata(), rows.select("step", "beta").to_numpy())
            assert (beta.get_color(), beta.get_label()) == (color, name)
            (band,) = ax.collections
            vertices = band_vertices(band)
            for bound in ("beta_low", "beta_high"):
                assert contains_points(vertices, rows.select("step", bound).to_numpy())
            assert vertices[:, 1].min() == pytest.approx(rows["beta_low"].min())
            assert vertices[:, 1].max() == pytest.approx(rows["beta_high"].max())
    assert legend_texts(fig)[0] == "feasible interval [β_low, β_high] (Lemma 3)"


def test_lemma3_rejects_an_unknown_rule():
    with pytest.raises(DivlibError, match="unknown rules"):
        plots.adaptive_beta(make_steps().with_columns(method=pl.lit("ddt")))


def test_sensitivity_plots_each_k_against_log_eps():
    grid = ((1e-4, "0.0001"), (6e-4, "auto"), (1e-2, "0.01"))
    rows = [
        {
            "eps": eps,
            "eps_setting": setting,
            "k": k,
            "dro": 0.5 + k / 100 + i / 1000,
            "dro_before": 0.3 + k / 100 + i / 10000,
            "relevance": 0.8 + k / 1000 + i / 100,
        }
        for i, (eps, setting) in enumerate(grid)
        for k in (20, 5, 10)
    ]
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
    shares = {
        "NMF, relevance only": np.array([0.25, 0.75, 0.0, 0.5]),
        "NMF, DDT β = 0.2": np.array([0.3, 0.2, 0.4, 0.1]),
    }
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


def figure_data(*, mse: bool) -> FigureData:
    summary = make_summary(mse=mse)
    sensitivity = pl.DataFrame(
        {
            "eps": [1e-3, 1e-2],
            "eps_setting": ["auto", "0.01"],
            "k": [10, 10],
            "dro": [0.5, 0.6],
            "dro_before": [0.4, 0.4],
            "relevance": [0.9, 0.8],
        }
    )
    return FigureData(
        sweep=summary.filter(pl.col("method").is_in(["base", "ddt", "mdr"])),
        tradeoff=summary,
        pareto=pl.concat([make_runs(), make_runs().with_columns(k=pl.lit(20, dtype=pl.Int64))]),
        curves=make_curves(),
        adaptive=make_steps(),
        sensitivity=sensitivity,
        categories=["Drama"],
        shares={"before": np.array([1.0]), "after": np.array([0.5])},
    )


def test_paper_figures_builds_every_figure_with_the_data_it_is_given():
    drawn = dict(plots.paper_figures(figure_data(mse=True), k=20, beta=0.2))
    assert list(drawn) == list(plots.FIGURES)
    assert drawn["fig1_beta_sweep"].axes[1].get_title() == "NMF: DRO@20"
    assert drawn["fig4_beta_sweep_appendix"].axes[0].get_title() == "NMF: MSE (test ratings)"
    assert drawn["fig2_training_curves"].axes[0].get_title() == "NMF, DDT"
    assert len(drawn["fig_lemma3_adaptive_beta"].axes) == 4
    assert drawn["q2_pareto_ndcg"].axes[0].get_xlabel() == "NDCG@20"
    legend = [text.get_text() for text in drawn["tradeoff"].legends[0].get_texts()]
    assert "DPP, EXPLORE" in legend and "DDT" in legend
    (ax,) = drawn["category_histogram"].axes
    assert [bar.get_height() for bar in ax.containers[1]] == [0.5]
    without = dict(plots.paper_figures(figure_data(mse=False), k=10, beta=0.2))
    assert len(without["fig4_beta_sweep_appendix"].axes) == 2 * len(MODELS)


def test_the_legend_wraps_into_columns_that_fit_the_figure():
    summary = make_summary()
    wide = plots.beta_sweep(summary, k=10)
    narrow = plots.beta_sweep(summary, k=10, metrics=["dro", "coverage"])
    columns = []
    for fig in (wide, narrow):
        fig.draw_without_rendering()
        renderer = fig.canvas.get_renderer()
        (legend,) = fig.legends
        assert legend.get_window_extent(renderer).width <= fig.bbox.width
        columns.append(len({text.get_window_extent(renderer).x0 for text in legend.get_texts()}))
    assert columns == [4, 2]


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
