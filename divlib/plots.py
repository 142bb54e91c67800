"""The paper's figures, drawn from data prepared by :mod:`divlib.figure_data`, and :func:`save_figure` to
write them reproducibly. Methods are named and styled as in :mod:`divlib.methods`.

Every builder takes polars frames (or arrays) and returns a :class:`matplotlib.figure.Figure` drawn on the
Agg canvas, never through pyplot: no global state, no GUI backend, nothing to close. Frames that hold
several models carry a ``model`` column; panels follow its order of first appearance.
:func:`paper_figures` builds every figure of the figures stage.
"""

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import polars as pl
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from divlib.errors import DivlibError
from divlib.figure_data import FigureData, require_columns
from divlib.io import atomic_path
from divlib.methods import BY_KEY, lookup
from divlib.metrics import metric_label

DPI = 150
STABLE_RC = {"svg.hashsalt": "divlib"}  # SVG ids; PNG and PDF need only METADATA
METADATA = {  # no version strings or timestamps, so that identical figures give identical bytes
    "png": {"Software": None},
    "pdf": {"Creator": None, "Producer": None, "CreationDate": None, "ModDate": None},
}
FIGURES = ("beta_sweep", "tradeoff", "training_curves", "adaptive_beta", "sensitivity",
           "category_histogram")  # fmt: skip
SWEPT = ("ddt", "mdr", "mmr", "dpp")  # the trade-off figure's curves, over their parameter
POINTS = ("base", "dum", "ddt-adaptive")  # and its single points
LABEL_OFFSETS = [  # where a point's label may go: offset in points, alignment; first = default
    ((4, 3), "left", "bottom"), ((4, -3), "left", "top"), ((-4, 3), "right", "bottom"),
    ((-4, -3), "right", "top"), ((0, 5), "center", "bottom"), ((0, -5), "center", "top"),
    ((6, 0), "left", "center"), ((-6, 0), "right", "center"),
]  # fmt: skip
REGIMES = {"finetune": ("fine-tuned", "tab:blue"), "scratch": ("from scratch", "tab:orange")}


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


def paper_figures(data: FigureData, *, k: int) -> Iterator[tuple[str, Figure]]:
    """Each of :data:`FIGURES` by name, built when reached; those without runs to show are left out."""
    yield "beta_sweep", beta_sweep(data.summary, k=k)
    yield "tradeoff", tradeoff(data.summary, k=k)
    if data.training is not None:
        yield "training_curves", training_curves(data.training)
    if data.adaptive is not None:
        yield "adaptive_beta", adaptive_beta_band(data.adaptive)
    yield "sensitivity", sensitivity(data.sensitivity)
    yield "category_histogram", category_histogram(data.shares, data.categories, k=k)


def beta_sweep(
    summary: pl.DataFrame,
    *,
    k: int = 10,
    methods: Sequence[str] = ("ddt", "mdr"),
    metrics: Sequence[str] = ("dro", "relevance", "recall", "coverage"),
) -> Figure:
    """Each metric @k of DDT and MDR against β of L_JOINT = β·L_MSE − (1−β)·L_DDRO (paper Fig. 1/3).

    Rows: ``metrics``; columns: models. One line per method over β, shaded ± the std over seeds where
    there is one; the relevance-only model (method ``base``) as a dashed horizontal line.
    """
    frame = _at_k(summary, k, ["model", "method", "param", *metrics])
    models = _models(frame)
    fig, axes = _grid(len(metrics), len(models), panel=(2.6, 1.7), sharex=True, sharey="row")
    for col, model in enumerate(models):
        rows = frame.filter(pl.col("model") == model)
        for row, metric in enumerate(metrics):
            ax = axes[row, col]
            for method in methods:
                curve = rows.filter(pl.col("method") == method).sort("param")
                _line(ax, curve["param"], curve[metric], method)
                _band(ax, curve, metric, BY_KEY[method].color)
            _base_line(ax, rows, metric)
            ax.set_ylabel(metric_label(metric, k) if col == 0 else "")
        axes[0, col].set_title(model.upper())
        axes[-1, col].set_xlabel("β")
    _legend(fig, axes)
    return fig


def tradeoff(summary: pl.DataFrame, *, k: int = 10) -> Figure:
    """Diversity DRO@k (y) against the predicted relevance share @k (x), one panel per model.

    Lines: DDT and MDR over β, MMR over λ, DPP over θ, each point labelled with its parameter; single
    points: the relevance-only model, DUM and DDT with adaptive β.
    """
    frame = _at_k(summary, k, ["model", "method", "param", "dro", "relevance"])
    models = _models(frame)
    fig, axes = _grid(1, len(models), panel=(3.6, 3.2))
    for ax, model in zip(axes[0], models, strict=True):
        rows = frame.filter(pl.col("model") == model)
        for method in SWEPT:
            curve = rows.filter(pl.col("method") == method).sort("param")
            _line(ax, curve["relevance"], curve["dro"], method)
            for x, y, param in curve.select("relevance", "dro", "param").iter_rows():
                ax.annotate(
                    f"{BY_KEY[method].symbol}={param:g}",
                    (x, y),
                    xytext=LABEL_OFFSETS[0][0],
                    textcoords="offset points",
                    fontsize=6,
                    color=BY_KEY[method].color,
                )
        for method in POINTS:
            point = rows.filter(pl.col("method") == method)
            _line(
                ax,
                point["relevance"],
                point["dro"],
                method,
                linestyle="none",
                markersize=9,
                markeredgecolor="black",
                zorder=3,
            )
        ax.set_title(model.upper())
        ax.set_xlabel(metric_label("relevance", k))
        ax.margins(0.08)  # room for the labels of the outermost points
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel(metric_label("dro", k))
    _legend(fig, axes)
    _place_labels(fig)
    return fig


def training_curves(curves: pl.DataFrame) -> Figure:
    """Soft DDRO (dashed) and hard DRO@k (solid) during training, fine-tuned vs trained from scratch
    on L_JOINT (paper Fig. 2), one panel per model; x: epochs. ``curves``: columns model, regime,
    progress, ddro, dro (:func:`divlib.figure_data.mean_training_curves`)."""
    require_columns(curves, ["model", "regime", "progress", "ddro", "dro"], "training curves")
    models = _models(curves)
    fig, axes = _grid(1, len(models), panel=(3.4, 2.6), sharey=True)
    for ax, model in zip(axes[0], models, strict=True):
        rows = curves.filter(pl.col("model") == model)
        for regime, (label, color) in REGIMES.items():
            run = rows.filter(pl.col("regime") == regime)
            if run.height:
                ax.plot(
                    run["progress"],
                    run["ddro"],
                    color=color,
                    linestyle="--",
                    label=f"{label}, DDRO (soft)",
                )
                ax.plot(run["progress"], run["dro"], color=color, label=f"{label}, DRO (hard)")
        ax.set_title(model.upper())
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("DDRO / DRO@k of the step's users")
    _legend(fig, axes)
    return fig


def adaptive_beta_band(curves: pl.DataFrame) -> Figure:
    """Adaptive β per step inside its feasible band [β_low, β_high] (ICLR Lemma 3), one panel per
    model. ``curves``: columns model, step, beta, beta_low, beta_high
    (:func:`divlib.figure_data.mean_adaptive_beta`)."""
    columns = ["model", "step", "beta", "beta_low", "beta_high"]
    require_columns(curves, columns, "adaptive β")
    models = _models(curves)
    fig, axes = _grid(1, len(models), panel=(3.4, 2.6), sharey=True)
    for ax, model in zip(axes[0], models, strict=True):
        rows = curves.filter(pl.col("model") == model)
        ax.fill_between(
            rows["step"],
            rows["beta_low"],
            rows["beta_high"],
            color="tab:blue",
            alpha=0.2,
            linewidth=0,
            label="feasible band [β_low, β_high]",
        )
        ax.plot(rows["step"], rows["beta"], color="tab:blue", marker=".", label="adaptive β")
        ax.set_title(model.upper())
        ax.set_xlabel("step")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("β")
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
    (:func:`divlib.figure_data.category_shares`).
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


def _band(ax: Axes, curve: pl.DataFrame, metric: str, color: str) -> None:
    """Shade ``metric`` ± its std over seeds along β, where the summary has one."""
    std = f"{metric}_std"
    if std in curve.columns and curve[std].null_count() < curve.height:
        x, y, spread = (curve[c].fill_null(0.0).to_numpy() for c in ("param", metric, std))
        ax.fill_between(x, y - spread, y + spread, color=color, alpha=0.2, linewidth=0)


def _base_line(ax: Axes, rows: pl.DataFrame, metric: str) -> None:
    base = rows.filter(pl.col("method") == "base")[metric]
    if base.len():
        look = BY_KEY["base"]
        ax.axhline(base[0], color=look.color, linestyle="--", linewidth=1, label=look.legend)


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
    """One legend under the panels, each label once."""
    entries = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    fig.legend(
        entries.values(),
        entries.keys(),
        loc="outside lower center",
        ncols=min(len(entries), 5),
        frameon=False,
    )


def _models(frame: pl.DataFrame) -> list[str]:
    return frame["model"].unique(maintain_order=True).to_list()


def _at_k(summary: pl.DataFrame, k: int, columns: list[str]) -> pl.DataFrame:
    frame = require_columns(summary, ["k", *columns], "summary").filter(pl.col("k") == k)
    if not frame.height:
        raise DivlibError(f"summary: no rows at k = {k}; is k in evaluate.ks?")
    return frame
