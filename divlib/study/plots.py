"""The paper's figures, drawn from data prepared by :mod:`divlib.study.figure_data`, and :func:`save_figure` to
write them reproducibly. Methods are named and styled as in :mod:`divlib.study.methods`.

Every builder takes polars frames (or arrays) and returns a :class:`matplotlib.figure.Figure` drawn on the
Agg canvas, never through pyplot: no global state, no GUI backend, nothing to close. Frames that hold
several models carry a ``model`` column; panels follow its order of first appearance.
:func:`paper_figures` builds every figure of the figures stage.
"""

import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import polars as pl
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import Bbox

from divlib.errors import DivlibError
from divlib.io import atomic_path
from divlib.metrics import metric_label
from divlib.study.evaluation import param_is
from divlib.study.figure_data import FigureData, load_figure_data
from divlib.study.layout import Layout
from divlib.study.methods import BY_KEY, lookup
from divlib.study.params import Params
from divlib.study.readers import require_columns
from divlib.study.robustness import FIGURE as ROBUSTNESS_FIGURE
from divlib.study.robustness import gain_scatter, recipe_points

DPI = 150
STABLE_RC = {"svg.hashsalt": "divlib"}  # SVG ids; PNG and PDF need only METADATA
METADATA = {  # no version strings or timestamps, so that identical figures give identical bytes
    "png": {"Software": None},
    "pdf": {"Creator": None, "Producer": None, "CreationDate": None, "ModDate": None},
}
PARETO = {"relevance": "q2_pareto_predicted", "ndcg": "q2_pareto_ndcg"}  # Q2: measure → figure
FIGURES = (
    "fig1_beta_sweep",
    "fig2_training_curves",
    "fig_lemma3_adaptive_beta",
    "tradeoff",
    *PARETO.values(),
    "sensitivity",
    "fig4_beta_sweep_appendix",
    "category_histogram",
)
SWEEP_METRICS = ("recall", "dro", "coverage", "item_coverage", "ndcg")  # Fig. 1: against β
# (recall, NDCG@k: full catalogue, held-out ratings; item coverage: over all users' lists, beyond
# the paper)
log = logging.getLogger(__name__)
APPENDIX_METRICS = ("mse", "hr", "precision_test")  # Fig. 4's (appendix)
SWEPT = ("ddt", "mdr", "mmr", "dpp")  # the trade-off figure's curves, over their parameter
POINTS = ("base", "dum", "mmr-paper", "dpp-paper")  # and its single points
PARETO_CURVES = ("mmr", "dpp")  # Q2's re-rankers over their parameter; the rest are points
PARETO_POINTS = ("dum", "mmr-paper", "dpp-paper", "base", "popular", "random")
PARETO_FINETUNED = ("ddt", "mdr")  # points with bars of ± their std over seeds
DOMINATED = "gold"  # the region at least as diverse and relevant as DDT
LABELLED = 5  # a trade-off curve labels at most about this many of its points with their parameter
LABEL_OFFSETS = [  # where a point's label may go: offset in points, alignment; first = default
    ((4, 3), "left", "bottom"),
    ((4, -3), "left", "top"),
    ((-4, 3), "right", "bottom"),
    ((-4, -3), "right", "top"),
    ((0, 5), "center", "bottom"),
    ((0, -5), "center", "top"),
    ((6, 0), "left", "center"),
    ((-6, 0), "right", "center"),
]
REGIMES = {"finetune": ("fine-tuned", "teal"), "scratch": ("from scratch", "tab:brown")}
CURVES = {"dro": ("-", "DRO@{k} (hard)"), "ddro": ("--", "DDRO (soft)")}  # Fig. 2: style, label
ADAPTIVE = {  # Lemma 3's runs (method label of run.json): the rule's name and colour
    "ddt-adaptive": ("β* = min-norm β (the paper)", BY_KEY["ddt-adaptive"].color),
    "ddt-adaptive-normalized": ("β = b/(a+b) (normalised)", "navy"),
}
INTERVAL = "lightgrey"  # Lemma 3's feasible interval


def save_figure(fig: Figure, path: str | Path) -> list[Path]:
    """Write ``fig`` to ``path.png`` and ``path.pdf`` at :data:`DPI`, each through a temporary name.

    The bytes depend on the figure only: metadata without version or date, a fixed SVG hash salt.
    Returns the two paths written.
    """
    path = Path(path)
    written = []
    with rc_context(STABLE_RC):
        for suffix, metadata in METADATA.items():
            target = path.with_name(f"{path.name}.{suffix}")
            with atomic_path(target) as temporary:
                fig.savefig(temporary, format=suffix, dpi=DPI, metadata=metadata)
            written.append(target)
    return written


def paper_figures(data: FigureData, *, k: int, beta: float) -> Iterator[tuple[str, Figure]]:
    """Each of :data:`FIGURES` by name, built when reached; Fig. 4 shows the metrics of
    :data:`APPENDIX_METRICS` that the summaries hold (:func:`appendix_metrics`); the Pareto figures
    shade what dominates DDT at the chosen ``beta``."""
    yield "fig1_beta_sweep", beta_sweep(data.sweep, k=k)
    yield "fig2_training_curves", training_curves(data.curves, k=k)
    yield "fig_lemma3_adaptive_beta", adaptive_beta(data.adaptive)
    yield "tradeoff", tradeoff(data.tradeoff, k=k)
    for measure, name in PARETO.items():
        yield name, pareto(data.pareto, k=k, measure=measure, beta=beta)
    yield "sensitivity", sensitivity(data.sensitivity)
    appendix = appendix_metrics(data.sweep)
    yield "fig4_beta_sweep_appendix", beta_sweep(data.sweep, k=k, metrics=appendix)
    yield "category_histogram", category_histogram(data.shares, data.categories, k=k)


def appendix_metrics(summary: pl.DataFrame) -> list[str]:
    """The metrics of :data:`APPENDIX_METRICS` that ``summary`` has values of."""
    return [
        metric
        for metric in APPENDIX_METRICS
        if metric in summary.columns and summary[metric].null_count() < summary.height
    ]


def beta_sweep(
    summary: pl.DataFrame,
    *,
    k: int = 10,
    metrics: Sequence[str] = SWEEP_METRICS,
    methods: Sequence[str] = ("ddt", "mdr"),
) -> Figure:
    """Each of ``metrics`` @k of DDT and MDR against β of L_JOINT = β·L_MSE − (1−β)·L_DDRO (paper
    Fig. 1; Fig. 4 with :data:`APPENDIX_METRICS`).

    Rows: models; columns: ``metrics``. One line per method over β, the mean over seeds, shaded ± the
    std where there is one; β = 1 (dotted) is the control fine-tuned for relevance only; the pretrained
    model (method ``base``) is a dashed horizontal line. A panel without values says so.
    """
    frame = _at_k(summary, k, ["model", "method", "param", *metrics])
    models = _models(frame)
    fig, axes = _grid(len(models), len(metrics), panel=(3.0, 2.3), sharex=True)
    for row, model in enumerate(models):
        rows = frame.filter(pl.col("model") == model)
        for col, metric in enumerate(metrics):
            ax = axes[row, col]
            for method in methods:
                curve = rows.filter(pl.col("method") == method).sort("param")
                _line(ax, curve["param"], curve[metric], method)
                _band(ax, curve, "param", metric, BY_KEY[method].color)
            _base_line(ax, rows, metric)
            ax.axvline(
                1.0,
                color="grey",
                linestyle=":",
                linewidth=1,
                label="β = 1: the control (same fine-tuning, L_MSE only)",
            )
            if rows[metric].null_count() == rows.height:
                ax.text(
                    0.5,
                    0.5,
                    "not in this model's summary",
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                    color="grey",
                )
                ax.set_yticks([])
            ax.grid(alpha=0.3)
            ax.set_title(f"{model.upper()}: {metric_label(metric, k)}", fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel("β")
        ax.set_xticks(np.linspace(0, 1, 6))
    _legend(fig, axes)
    return fig


def tradeoff(summary: pl.DataFrame, *, k: int = 10) -> Figure:
    """Diversity DRO@k (y) against the predicted relevance share @k (x), one panel per model.

    Lines: DDT and MDR over β, MMR over λ, DPP over θ, points labelled with their parameter
    (:func:`_labelled`); single points: the relevance-only model, DUM, and MMR and DPP as the paper ran
    them.
    """
    frame = _at_k(summary, k, ["model", "method", "param", "dro", "relevance"])
    models = _models(frame)
    fig, axes = _grid(1, len(models), panel=(3.6, 3.2))
    for ax, model in zip(axes[0], models, strict=True):
        rows = frame.filter(pl.col("model") == model)
        _curves_and_points(ax, rows, "relevance", (SWEPT, POINTS), markersize=9)
        ax.set_title(model.upper())
        ax.set_xlabel(metric_label("relevance", k))
        ax.margins(0.08)  # room for the labels of the outermost points
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel(metric_label("dro", k))
    _legend(fig, axes)
    _place_labels(fig)
    return fig


def pareto(
    runs: pl.DataFrame, *, k: int = 10, measure: str = "relevance", beta: float | None = None
) -> Figure:
    """Q2 at matched relevance: DRO@k (y) against one relevance ``measure`` @k (x: ``relevance``,
    predicted by eq. 12, or ``ndcg``, on held-out ratings), one panel per model; means over seeds.

    Curves: MMR over λ and DPP over θ, labelled with their parameter; points: DUM, MMR and DPP as
    the paper ran them, the relevance-only model and the anchors (most popular, random); DDT and MDR
    at each β, with bars of ± their std over seeds on both axes. Shaded: the region at least as
    diverse and as relevant as DDT at ``beta`` (None: its first β), where a dominating setting lies
    (:func:`divlib.study.verdicts.rule_dominance` also asks for a clear paired interval).

    Args:
        runs: per-run means over users (:func:`divlib.study.evaluation.run_means`), columns model,
            method, param, seed, k, dro and ``measure``.
    """
    frame = _at_k(runs, k, ["model", "method", "param", "seed", "dro", measure])
    means = frame.group_by("model", "method", "param", maintain_order=True).agg(
        pl.col("dro", measure).mean(), pl.col("dro", measure).std().name.suffix("_std")
    )
    models = _models(frame)
    fig, axes = _grid(1, len(models), panel=(5.6, 4.6))
    for ax, model in zip(axes[0], models, strict=True):
        rows = means.filter(pl.col("model") == model)
        _curves_and_points(ax, rows, measure, (PARETO_CURVES, PARETO_POINTS), markersize=8)
        for method in PARETO_FINETUNED:
            _seed_bars(ax, rows.filter(pl.col("method") == method).sort("param"), measure, method)
        ddt = rows.filter(pl.col("method") == "ddt").sort("param")
        if beta is not None:
            ddt = ddt.filter(param_is(beta))
        _shade_dominated(ax, ddt, measure)
        ax.set_title(model.upper())
        ax.set_xlabel(metric_label(measure, k))
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel(metric_label("dro", k))
    _legend(fig, axes)
    _place_labels(fig)
    return fig


def _curves_and_points(
    ax: Axes,
    rows: pl.DataFrame,
    x: str,
    methods: tuple[Sequence[str], Sequence[str]],
    *,
    markersize: float,
) -> None:
    """DRO@k against ``x``: a curve over its parameter (each point labelled) for each method of
    ``methods[0]``, one marked point for each of ``methods[1]``."""
    curves, points = methods
    for method in curves:
        curve = rows.filter(pl.col("method") == method).sort("param")
        _line(ax, curve[x], curve["dro"], method)
        for px, py, param in _labelled(curve.select(x, "dro", "param").rows()):
            ax.annotate(
                f"{BY_KEY[method].symbol}={param:g}",
                (px, py),
                xytext=LABEL_OFFSETS[0][0],
                textcoords="offset points",
                fontsize=6,
                color=BY_KEY[method].color,
            )
    for method in points:
        point = rows.filter(pl.col("method") == method)
        _line(
            ax,
            point[x],
            point["dro"],
            method,
            linestyle="none",
            markersize=markersize,
            markeredgecolor="black",
            zorder=3,
        )


def _seed_bars(ax: Axes, rows: pl.DataFrame, measure: str, method: str) -> None:
    """``method``'s points, one per β, with bars of ± the std over seeds (none for one seed)."""
    if not rows.height:
        return
    look = lookup(method)
    xerr, yerr = (rows[f"{c}_std"].fill_null(0.0).to_numpy() for c in (measure, "dro"))
    ax.errorbar(
        rows[measure].to_numpy(),
        rows["dro"].to_numpy(),
        xerr=xerr,
        yerr=yerr,
        color=look.color,
        marker=look.marker,
        linestyle="none",
        markersize=8,
        markeredgecolor="black",
        capsize=3,
        zorder=4,
        label=f"{look.legend} (± std over seeds)",
    )
    for x, y, param in rows.select(measure, "dro", "param").rows():
        ax.annotate(
            f"{look.symbol}={param:g}",
            (x, y),
            xytext=LABEL_OFFSETS[0][0],
            textcoords="offset points",
            fontsize=6,
            color=look.color,
        )


def _shade_dominated(ax: Axes, ddt: pl.DataFrame, measure: str) -> None:
    """Shade the quadrant right of and above DDT's (first) point, to the panel's edges."""
    if not ddt.height:
        return
    ax.margins(0.08)
    ax.autoscale_view()
    (x_low, x_high), (y_low, y_high) = ax.get_xlim(), ax.get_ylim()
    x, y, beta = ddt[measure][0], ddt["dro"][0], ddt["param"][0]
    ax.fill_between(
        [x, max(x, x_high)],
        y,
        max(y, y_high),
        color=DOMINATED,
        alpha=0.15,
        linewidth=0,
        zorder=0,
        label=f"≥ DDT (β = {beta:g}) on both axes",
    )
    ax.set_xlim(x_low, x_high)
    ax.set_ylim(y_low, y_high)


def training_curves(curves: pl.DataFrame, *, k: int = 10) -> Figure:
    """The monitored users' soft DDRO (dashed) and hard DRO@k (solid) per epoch, fine-tuned from the
    pretrained model vs trained from scratch on L_JOINT (paper Fig. 2): rows models, columns methods;
    means over seeds, shaded ± the std where there is one. ``curves``: columns model, method, regime,
    epoch, ddro, dro and optionally ddro_std, dro_std (:func:`divlib.study.figure_data.mean_curves`)."""
    frame = require_columns(
        curves, ["model", "method", "regime", "epoch", *CURVES], "training curves"
    )
    models, methods = _models(frame), frame["method"].unique(maintain_order=True).to_list()
    fig, axes = _grid(len(models), len(methods), panel=(3.4, 2.5), sharex=True, sharey="row")
    for row, model in enumerate(models):
        for col, method in enumerate(methods):
            ax = axes[row, col]
            panel = frame.filter((pl.col("model") == model) & (pl.col("method") == method))
            for regime, (name, color) in REGIMES.items():
                run = panel.filter(pl.col("regime") == regime)
                if not run.height:
                    continue
                for metric, (style, label) in CURVES.items():
                    ax.plot(
                        run["epoch"].to_numpy(),
                        run[metric].to_numpy(),
                        color=color,
                        linestyle=style,
                        label=f"{name}, {label.format(k=k)}",
                    )
                    _band(ax, run, "epoch", metric, color)
            ax.set_title(f"{model.upper()}, {lookup(method).legend}", fontsize=9)
            ax.grid(alpha=0.3)
        axes[row, 0].set_ylabel(f"DRO@{k}, DDRO")
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _legend(fig, axes)
    return fig


def adaptive_beta(steps: pl.DataFrame) -> Figure:
    """β per step of each adaptive rule (:data:`ADAPTIVE`) inside its feasible interval
    [β_low, β_high] (ICLR Lemma 3): rows models, columns rules; means over seeds. ``steps``: columns
    model, method, step, beta, beta_low, beta_high (:func:`divlib.study.figure_data.mean_adaptive`)."""
    columns = ["model", "method", "step", "beta", "beta_low", "beta_high"]
    frame = require_columns(steps, columns, "adaptive β")
    unknown = set(frame["method"]) - set(ADAPTIVE)
    if unknown:
        raise DivlibError(
            f"adaptive β: unknown rules {sorted(unknown)}; known: {', '.join(ADAPTIVE)}"
        )
    models = _models(frame)
    rules = [rule for rule in ADAPTIVE if rule in set(frame["method"])]
    fig, axes = _grid(len(models), len(rules), panel=(3.4, 2.4), sharex=True, sharey=True)
    for row, model in enumerate(models):
        for col, rule in enumerate(rules):
            ax = axes[row, col]
            name, color = ADAPTIVE[rule]
            run = frame.filter((pl.col("model") == model) & (pl.col("method") == rule))
            x = run["step"].to_numpy()
            ax.fill_between(
                x,
                run["beta_low"].to_numpy(),
                run["beta_high"].to_numpy(),
                color=INTERVAL,
                linewidth=0,
                label="feasible interval [β_low, β_high] (Lemma 3)",
            )
            ax.plot(x, run["beta"].to_numpy(), color=color, linewidth=1.2, label=name)
            ax.set_title(f"{model.upper()}, {name}", fontsize=9)
            ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.3)
        axes[row, 0].set_ylabel("β")
    for ax in axes[-1]:
        ax.set_xlabel("step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _legend(fig, axes)
    return fig


def sensitivity(results: pl.DataFrame) -> Figure:
    """DRO@k and relevance@k of DDT against the soft-rank strength ε (log scale), one line per k.

    Dotted: DRO@k of the pretrained model; dashed grey: ε = 1/m (setting ``auto``), if in the grid.
    """
    columns = ["eps", "eps_setting", "k", "dro", "dro_before", "relevance"]
    frame = require_columns(results, columns, "sensitivity results").sort("k", "eps")
    fig, axes = _grid(1, 2, panel=(3.6, 2.8))
    left, right = axes[0]
    for index, ((k,), rows) in enumerate(frame.group_by("k", maintain_order=True)):
        color = f"C{index}"
        left.plot(rows["eps"], rows["dro"], color=color, marker="o", label=f"k = {k}")
        left.axhline(rows["dro_before"].mean(), color=color, linestyle=":", linewidth=1)
        right.plot(rows["eps"], rows["relevance"], color=color, marker="o", label=f"k = {k}")
    left.plot([], [], color="grey", linestyle=":", label="pretrained (per k)")  # legend entry only
    auto = frame.filter(pl.col("eps_setting") == "auto")["eps"]
    for ax, metric in ((left, "dro"), (right, "relevance")):
        if auto.len():
            ax.axvline(auto[0], color="grey", linestyle="--", linewidth=0.8, label="ε = 1/m (auto)")
        ax.set_xscale("log")
        ax.set_xlabel("ε")
        ax.set_ylabel(metric_label(metric, "k"))
        ax.grid(alpha=0.3)
    _legend(fig, axes)
    return fig


def category_histogram(
    shares: Mapping[str, np.ndarray], names: Sequence[str], *, k: int = 10
) -> Figure:
    """Share of top-k slots per category before and after fine-tuning, as grouped bars.

    ``shares``: two entries (before, after), legend label to one share per category of ``names``
    (:func:`divlib.study.figure_data.category_shares`).
    """
    fig, axes = _grid(1, 1, panel=(max(6.0, 0.42 * len(names)), 3.2))
    ax = axes[0, 0]
    positions, width = np.arange(len(names)), 0.4
    for offset, (label, share) in zip((-width / 2, width / 2), shares.items(), strict=True):
        ax.bar(positions + offset, share, width, label=label)
    ax.set_xticks(positions, names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel(f"share of top-{k} slots")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(frameon=False)
    return fig


def _grid(
    rows: int, cols: int, *, panel: tuple[float, float], **share
) -> tuple[Figure, np.ndarray]:
    """A figure of ``rows × cols`` panels of size ``panel`` (inches), on the Agg canvas."""
    fig = Figure(figsize=(panel[0] * cols, panel[1] * rows + 0.6), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, cols, squeeze=False, **share)


def _line(ax: Axes, x: pl.Series, y: pl.Series, method: str, **style) -> None:
    """``y`` against ``x`` in the method's colour and marker, labelled for the legend."""
    look = lookup(method)
    if len(x):
        ax.plot(
            x.to_numpy(),
            y.to_numpy(),
            color=look.color,
            marker=look.marker,
            label=look.legend,
            **style,
        )


def _band(ax: Axes, curve: pl.DataFrame, x: str, metric: str, color: str) -> None:
    """Shade ``metric`` ± its std over seeds (column ``metric_std``) along ``x``, where there is one."""
    std = f"{metric}_std"
    if std in curve.columns and curve[std].null_count() < curve.height:
        xs, y, spread = (curve[c].fill_null(0.0).to_numpy() for c in (x, metric, std))
        ax.fill_between(xs, y - spread, y + spread, color=color, alpha=0.2, linewidth=0)


def _base_line(ax: Axes, rows: pl.DataFrame, metric: str) -> None:
    """The relevance-only model's ``metric`` as a dashed line, where ``rows`` have it."""
    base = rows.filter(pl.col("method") == "base")[metric].drop_nulls()
    if base.len():
        look = BY_KEY["base"]
        ax.axhline(base[0], color=look.color, linestyle="--", linewidth=1, label=look.legend)


def _labelled(points: list[tuple]) -> list[tuple]:
    """The points of a curve that get a label: all of up to :data:`LABELLED` points, else the first,
    the last and evenly spaced ones between."""
    step = max(1, math.ceil((len(points) - 1) / (LABELLED - 1)))
    return [point for i, point in enumerate(points) if i % step == 0 or i == len(points) - 1]


def _place_labels(fig: Figure) -> None:
    """Put each point label at the first of :data:`LABEL_OFFSETS` where it covers no marker and no
    label placed before it (else at the first offset); measured on the final layout."""
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        taken = _marker_boxes(ax, fig.dpi)
        for text in ax.texts:
            for offset, ha, va in (*LABEL_OFFSETS, LABEL_OFFSETS[0]):
                text.xyann = offset
                text.set(horizontalalignment=ha, verticalalignment=va, in_layout=False)
                box = text.get_window_extent(renderer)
                if not any(box.overlaps(other) for other in taken):
                    break
            taken.append(box)


def _marker_boxes(ax: Axes, dpi: float) -> list[Bbox]:
    """The display-space square of every marker of every line of ``ax``."""
    boxes = []
    for line in ax.get_lines():
        radius = line.get_markersize() / 2 * dpi / 72
        for x, y in ax.transData.transform(line.get_xydata()):
            boxes.append(Bbox.from_extents(x - radius, y - radius, x + radius, y + radius))
    return boxes


def _legend(fig: Figure, axes: np.ndarray) -> None:
    """One legend under the panels, each label once, in as many columns (at most 5) as fit the
    figure's width."""
    entries = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    renderer = fig.canvas.get_renderer()
    for ncols in range(min(len(entries), 5), 0, -1):
        legend = fig.legend(
            entries.values(), entries.keys(), loc="outside lower center", ncols=ncols, frameon=False
        )
        if ncols == 1 or legend.get_window_extent(renderer).width <= fig.bbox.width:
            return
        legend.remove()


def _models(frame: pl.DataFrame) -> list[str]:
    return frame["model"].unique(maintain_order=True).to_list()


def _at_k(summary: pl.DataFrame, k: int, columns: list[str]) -> pl.DataFrame:
    frame = require_columns(summary, ["k", *columns], "summary").filter(pl.col("k") == k)
    if not frame.height:
        raise DivlibError(f"summary: no rows at k = {k}; is k in evaluate.ks?")
    return frame


def write_figures(layout: Layout, params: Params, dataset: str) -> None:
    """Draw :func:`paper_figures` of ``dataset`` from its pipeline outputs (the case study at
    ``params.chosen_beta``), and the robustness table's scatter
    (:func:`~divlib.study.robustness.gain_scatter`), and save each as PNG and PDF under
    ``reports/DATASET/figures/``."""
    k = params.diversity.k
    data = load_figure_data(
        layout,
        dataset,
        sweep=params.beta_sweep.models,
        curves=params.training_curves.models,
        adaptive=params.adaptive_beta.models,
        main=params.main_table.models,
        case=params.case_model,
        beta=params.chosen_beta,
        k=k,
    )
    missing = sorted(set(APPENDIX_METRICS) - set(appendix_metrics(data.sweep)))
    if missing:
        log.info("fig4_beta_sweep_appendix: no %s in the summaries; left out", ", ".join(missing))
    for name, figure in paper_figures(data, k=k, beta=params.chosen_beta):
        paths = save_figure(figure, layout.figures(dataset) / name)
        log.info("%s: %s", name, ", ".join(map(str, paths)))
    scatter = gain_scatter(recipe_points(layout, params, dataset))  # the robustness table's
    paths = save_figure(scatter, layout.figures(dataset) / ROBUSTNESS_FIGURE)
    log.info("%s: %s", ROBUSTNESS_FIGURE, ", ".join(map(str, paths)))
