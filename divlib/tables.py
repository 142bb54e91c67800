"""The paper's result tables from evaluation summaries (:func:`divlib.evaluation.summarize`), as Markdown
and LaTeX, and the trade-off they show in words.

- :func:`main_table` (the paper's Table III): per method, DRO@k and the predicted-relevance share,
  "mean (std)" over seeds, one column pair per model.
- :func:`gain_table` (the paper's Table IV): one method's diversity gain over the relevance-only model in
  percentage points, ``100 · (DRO − DRO_base)``, on ranks 1..k and k+1..2k (the optimised top k and
  the next k, where k is the one the method was trained at).

:func:`result_tables` builds both for the tables stage. Methods are named as in :mod:`divlib.methods`;
``choose`` (``tables.choose`` of params.yaml) picks the setting of each trade-off grid. Published numbers
(``reports/paper/published.csv``, :func:`read_published`) are printed as the paper prints them. A dataset
the paper lacks may be shown beside the published dataset of :data:`PAPER_PROXY`, labelled as another
dataset.
"""

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from divlib.errors import DivlibError
from divlib.layout import Layout
from divlib.methods import BY_KEY, ROWS

MODEL_ORDER = ("nmf", "mf", "ncf")
PAPER_PROXY = {"ml-100k": "ml-1m"}  # the published dataset shown for one the paper lacks
MISSING = "–"
_LATEX = {"&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "$": r"\$", "–": "--", "−": "$-$",
          "·": r"$\cdot$", "λ": r"$\lambda$", "θ": r"$\theta$", "β": r"$\beta$", "σ": r"$\sigma$",
          "≈": r"$\approx$", "×": r"$\times$", "r̂": r"$\hat r$"}  # fmt: skip


@dataclass(frozen=True)
class Table:
    """A rendered-to-be table: a stub column of row labels, then value columns under spanning groups.

    ``groups`` are ``(label, span)`` pairs over ``columns``; their spans sum to ``len(columns)``.
    """

    caption: str
    stub: str
    groups: tuple[tuple[str, int], ...]
    columns: tuple[str, ...]
    rows: tuple[tuple[str, tuple[str, ...]], ...]


def read_summaries(layout: Layout, dataset: str, models: Sequence[str]) -> dict[str, pl.DataFrame]:
    """The evaluation summary of each model of ``dataset``, by model, in the order given."""
    summaries = {}
    for model in models:
        path = layout.summary(dataset, model)
        if not path.is_file():
            raise DivlibError(
                f"{path} is missing: run the evaluate stage for {dataset}/{model} first"
            )
        summaries[model] = pl.read_parquet(path)
    return summaries


def result_tables(
    summaries: Mapping[str, pl.DataFrame],
    *,
    dataset: str,
    k: int,
    ks: Sequence[int],
    choose: Mapping[str, float],
    published: pl.DataFrame | None,
) -> dict[str, Table]:
    """The main table at ``k`` and the gain table over ``ks``, by output name, each method at the
    setting that ran nearest to its ``choose`` value (:func:`nearest_settings`)."""
    chosen = nearest_settings(summaries.values(), choose)
    return {
        "main": main_table(summaries, k=k, dataset=dataset, published=published, choose=chosen),
        "gain_beyond_k": gain_table(
            summaries,
            ks=ks,
            trained_k=k,
            dataset=dataset,
            published=published,
            param=chosen.get("ddt", choose["ddt"]),
        ),
    }


def read_published(path: str | Path) -> pl.DataFrame:
    """``published.csv``, with mean and std kept as the printed strings (``1.00``, ``-0.0``)."""
    return pl.read_csv(path, schema_overrides={"mean": pl.String, "std": pl.String})


def paper_rows(published: pl.DataFrame, dataset: str) -> pl.DataFrame | None:
    """The published rows of ``dataset``, else of its :data:`PAPER_PROXY`; None if neither exists."""
    for name in (dataset, PAPER_PROXY.get(dataset, dataset)):
        rows = published.filter(pl.col("dataset") == name)
        if not rows.is_empty():
            return rows
    return None


def model_order(models: Sequence[str]) -> list[str]:
    """``models`` in the paper's order (NMF, MF, NCF), unknown ones after, by name."""
    rank = {model: i for i, model in enumerate(MODEL_ORDER)}
    return sorted(models, key=lambda model: (rank.get(model, len(rank)), model))


def method_label(method: str, choose: Mapping[str, float]) -> str:
    """``"DDT (β = 0.5)"``: the method's label and its chosen setting, if it has a grid."""
    name = BY_KEY[method].label if method in BY_KEY else method
    return f"{name} ({_symbol(method)} = {choose[method]:g})" if method in choose else name


def setting(summary: pl.DataFrame, method: str, k: int, choose: Mapping[str, float]) -> dict | None:
    """The summary row of ``method`` at ``k`` and its chosen parameter; None if the method never ran.

    A method missing from ``choose`` must have a single setting.
    """
    rows = summary.filter((pl.col("k") == k) & (pl.col("method") == method))
    if rows.is_empty():
        return None
    params = sorted(p for p in rows["param"].to_list() if p is not None)
    if method in choose:
        rows = rows.filter((pl.col("param") - choose[method]).abs() < 1e-9)
        if rows.is_empty():
            raise DivlibError(
                f"{method} did not run at {choose[method]:g}; it ran at {params}: choose one of those"
            )
    elif rows.height > 1:
        raise DivlibError(f"{method} ran at {params}: choose one setting for the table")
    return rows.row(0, named=True)


def nearest_settings(
    summaries: Iterable[pl.DataFrame], choose: Mapping[str, float]
) -> dict[str, float]:
    """``choose`` with each value moved to the nearest setting that ran (the lower one on a tie), so
    that a sweep over other β, λ or θ still gets its tables; methods that never ran are dropped."""
    ran = pl.concat([s.select("method", "param") for s in summaries]).drop_nulls().unique()
    nearest = {}
    for method, wanted in choose.items():
        params = sorted(ran.filter(pl.col("method") == method)["param"].to_list())
        if params:
            nearest[method] = min(params, key=lambda p: (abs(p - wanted), p))
    return nearest


def main_table(
    summaries: Mapping[str, pl.DataFrame],
    *,
    k: int,
    dataset: str,
    choose: Mapping[str, float],
    methods: Sequence[str] = ROWS,
    published: pl.DataFrame | None = None,
    digits: int = 3,
) -> Table:
    """Rows: ``methods`` at their ``choose`` setting; per model (``summaries`` keys, in order) DRO@k and
    Relevance, "mean (std)" over seeds. ``published``: the paper's rows of one dataset (its NMF pair)."""
    columns = (f"DRO@{k}", "Relevance")
    groups = [(model.upper(), 2) for model in summaries]
    paper = _published_main(published, k)
    if paper is not None:
        groups.append((f"{_paper_label(paper, dataset)} NMF", 2))
    rows = []
    for method in methods:
        cells = []
        for summary in summaries.values():
            row = setting(summary, method, k, choose) or {}
            cells += [
                _mean_std(row.get(m), row.get(f"{m}_std"), digits) for m in ("dro", "relevance")
            ]
        if paper is not None:
            cells += [_printed(paper, method, metric) for metric in ("dro", "relevance")]
        rows.append((method_label(method, choose), tuple(cells)))
    return Table(
        _main_caption(k, dataset, choose, paper),
        "Method",
        tuple(groups),
        columns * len(groups),
        tuple(rows),
    )


def gain_table(
    summaries: Mapping[str, pl.DataFrame],
    *,
    ks: Sequence[int],
    trained_k: int,
    dataset: str,
    models: Sequence[str] = ("nmf", "ncf"),
    param: float,
    method: str = "ddt",
    published: pl.DataFrame | None = None,
) -> Table:
    """Rows: k. Per model of ``models`` found in ``summaries``: ``method`` at ``param`` against the
    relevance-only model, ``100 · (DRO − DRO_base)`` on ranks 1..k and k+1..2k, "mean (std)" over seeds
    (std: the method's DRO std over seeds; the base model is one deterministic run). ``trained_k``: the
    k the method was fine-tuned at. ``published``: the paper's rows of one dataset, beside ours."""
    models = [model for model in models if model in summaries]
    paper = _published_gain(published, method, param)
    label = _paper_label(paper, dataset) if paper is not None else None
    sources = [dataset] + ([label] if label else [])
    columns = tuple(f"{source} {ranks}" for source in sources for ranks in ("1..k", "k+1..2k"))
    rows = []
    for k in ks:
        cells = []
        for model in models:
            row = setting(summaries[model], method, k, {method: param}) or {}
            cells += [_gain(row, "dro"), _gain(row, "dro_beyond")]
            if paper is not None:
                cells += [
                    _printed(paper, model, metric, k) for metric in ("gain_pct", "gain_beyond_pct")
                ]
        rows.append((str(k), tuple(cells)))
    groups = tuple((model.upper(), len(columns)) for model in models)
    return Table(
        _gain_caption(dataset, method, param, trained_k, label),
        "k",
        groups,
        columns * len(models),
        tuple(rows),
    )


def describe_tradeoff(
    summary: pl.DataFrame,
    *,
    k: int,
    choose: Mapping[str, float],
    methods: Sequence[str] = ROWS[1:],
) -> list[str]:
    """Sentences on what each method of ``methods`` (at its ``choose`` setting) does to DRO@k, to the
    predicted relevance (and NDCG@k, if summarised) and to DRO beyond k, against the relevance-only
    model, then on each grid."""
    base = setting(summary, "base", k, choose)
    if base is None:
        raise DivlibError("the summary has no relevance-only (base) rows")
    chosen = {m: row for m in methods if (row := setting(summary, m, k, choose)) is not None}
    sentences = [_effect(method_label(m, choose), row, base, k) for m, row in chosen.items()]
    if chosen:
        diverse = max(chosen, key=lambda m: chosen[m]["dro"])
        relevant = max(chosen, key=lambda m: chosen[m]["relevance"])
        sentences.append(
            f"Highest DRO@{k}: {method_label(diverse, choose)} ({chosen[diverse]['dro']:.3f}); "
            f"highest relevance among these: {method_label(relevant, choose)} "
            f"({chosen[relevant]['relevance']:.3f}, relevance only: {base['relevance']:.3f})."
        )
    grids = [_grid(summary, m, k) for m in methods if m in choose and m in chosen]
    return sentences + [sentence for sentence in grids if sentence]


def frame_table(frame: pl.DataFrame, caption: str = "", digits: int = 4) -> Table:
    """A frame as a table: its first column the stub, floats to ``digits`` significant digits."""
    stub, *columns = frame.columns
    rows = tuple(
        (str(row[0]), tuple(_cell(value, digits) for value in row[1:])) for row in frame.iter_rows()
    )
    return Table(caption, stub, (), tuple(columns), rows)


def to_markdown(table: Table) -> str:
    """A pipe table (group labels prefixed to their columns) after the caption, as a paragraph."""
    header = [table.stub, *_flat_columns(table)]
    lines = [
        _pipe(header),
        _pipe(["---"] + ["---:"] * len(table.columns)),
        *[_pipe([label, *cells]) for label, cells in table.rows],
    ]
    return (f"{table.caption}\n\n" if table.caption else "") + "\n".join(lines) + "\n"


def to_latex(table: Table) -> str:
    """A ``table`` float holding a booktabs ``tabular``, with a spanning header row for the groups."""
    lines = [r"\begin{table}[t]", r"\centering"]
    if table.caption:
        lines.append(rf"\caption{{{latex_escape(table.caption)}}}")
    lines += [rf"\begin{{tabular}}{{l{'r' * len(table.columns)}}}", r"\toprule"]
    if table.groups:
        spans = [rf"\multicolumn{{{span}}}{{c}}{{{latex_escape(g)}}}" for g, span in table.groups]
        lines.append(" & ".join(["", *spans]) + r" \\")
        lines.append(" ".join(_cmidrules(table.groups)))
    lines.append(" & ".join(latex_escape(c) for c in (table.stub, *table.columns)) + r" \\")
    lines.append(r"\midrule")
    lines += [
        " & ".join(latex_escape(c) for c in (label, *cells)) + r" \\" for label, cells in table.rows
    ]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped, the Greek letters used here and a number's
    leading minus as math."""
    for plain, latex in _LATEX.items():
        text = text.replace(plain, latex)
    return re.sub(r"^-(?=[0-9.])", "$-$", text)


def _mean_std(mean: float | None, std: float | None, digits: int) -> str:
    if not _number(mean):
        return MISSING
    return f"{mean:.{digits}f}" + (f" ({std:.{digits}f})" if _number(std) else "")


def _gain(row: dict, metric: str) -> str:
    gain, std = row.get(f"{metric}_gain"), row.get(f"{metric}_std")
    return _mean_std(100 * gain if _number(gain) else None, 100 * std if _number(std) else None, 1)


def _number(value: float | None) -> bool:
    return value is not None and not math.isnan(value)


def _cell(value: object, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def _published_main(published: pl.DataFrame | None, k: int) -> pl.DataFrame | None:
    if published is None:
        return None
    rows = published.filter(
        (pl.col("table") == "main") & (pl.col("model") == "nmf") & (pl.col("k") == k)
    )
    return None if rows.is_empty() else rows.rename({"method": "key"})


def _published_gain(
    published: pl.DataFrame | None, method: str, param: float
) -> pl.DataFrame | None:
    if published is None:
        return None
    rows = published.filter(
        (pl.col("table") == "gain_beyond_k")
        & (pl.col("method") == method)
        & ((pl.col("param") - param).abs() < 1e-9)
    )
    return None if rows.is_empty() else rows.rename({"model": "key"})


def _printed(paper: pl.DataFrame, key: str, metric: str, k: int | None = None) -> str:
    """A published "mean (std)" as printed, for the row ``key`` (method or model) and ``metric``."""
    rows = paper.filter((pl.col("key") == key) & (pl.col("metric") == metric))
    if k is not None:
        rows = rows.filter(pl.col("k") == k)
    if rows.is_empty():
        return MISSING
    row = rows.row(0, named=True)
    return row["mean"] + (f" ({row['std']})" if row["std"] else "")


def _paper_label(paper: pl.DataFrame, dataset: str) -> str:
    reference = paper["dataset"][0]
    return "paper" if reference == dataset else f"paper {reference}"


def _main_caption(
    k: int, dataset: str, choose: Mapping[str, float], paper: pl.DataFrame | None
) -> str:
    settings = ", ".join(method_label(m, choose) for m in choose)
    text = (
        f"Diversity and relevance at k = {k} on {dataset}. DRO@{k}: mean pairwise genre distance "
        f"(1 − Jaccard) within the top-{k} list, higher is more diverse. Relevance: the paper's predicted "
        f"relevance share, the fraction of the top-{k} items whose preference likelihood "
        f"σ(1.5 · (r̂ − 3)) exceeds 0.8 (a threshold on predicted ratings, not on held-out ones). "
        f"Mean (std) over seeds, std omitted for a single seed; {MISSING}: not run. "
        f"MMR, DUM and DPP re-rank the relevance-only model of the same column. "
        f"Settings: {settings}; {BY_KEY['ddt-adaptive'].label} sets β itself."
    )
    if paper is None:
        return text + " The paper publishes no numbers for this dataset or for a similar one."
    reference = paper["dataset"][0]
    where = (
        "for this dataset"
        if reference == dataset
        else f"for {reference}, another dataset than ours, shown as a reference for magnitudes only"
    )
    return text + (
        f" Paper columns: published numbers {where}, as printed (June 2025 version, Table III: NMF, "
        f"DDT and MDR at β = 0.2 after 100 epochs, most diverse checkpoint, 10 runs; the re-rankers' "
        f"parameters are not published; no number for DDT-adaptive)."
    )


def _gain_caption(
    dataset: str, method: str, param: float, trained_k: int, label: str | None
) -> str:
    name = method_label(method, {method: param})
    text = (
        f"Diversity gain of {name} over the relevance-only model on {dataset}, in percentage points: "
        f"100 × (DRO − DRO of the relevance-only model), the paper's form (an absolute difference; "
        f"the relative gain is the summaries' dro_gain_pct), on the top k ranks (1..k) and on the next k "
        f"(k+1..2k). Mean (std) over seeds, std omitted for a single seed. Ours is fine-tuned once, at "
        f"k = {trained_k}, and evaluated at every k: only there is 1..k the range its objective optimises "
        f"and k+1..2k the range just beyond it."
    )
    if label is None:
        return text + " The paper publishes no gains for this dataset or for a similar one."
    where = (
        "this dataset" if label == "paper" else f"{label.split()[-1]}, another dataset than ours"
    )
    return text + (
        f" The {label} columns: published gains for {where}, as printed (β = 0.5, 10 fine-tuning epochs, "
        f"10 runs); their column order in the paper is uncertain (reports/paper/README.md, caveat 1)."
    )


def _effect(label: str, row: dict, base: dict, k: int) -> str:
    verb = "raises" if row["dro"] >= base["dro"] else "lowers"
    significance = f" (Wilcoxon p {_p(row.get('dro_p'))})" if _number(row.get("dro_p")) else ""
    ndcg = (
        f" and held-out NDCG@{k} from {base['ndcg']:.3f} to {row['ndcg']:.3f}"
        if _number(row.get("ndcg")) and _number(base.get("ndcg"))
        else ""
    )
    return (
        f"{label} {verb} DRO@{k} from {base['dro']:.3f} to {row['dro']:.3f}{significance} while "
        f"predicted relevance moves from {base['relevance']:.3f} to {row['relevance']:.3f}{ndcg}; "
        f"beyond the top {k} (ranks {k + 1}–{2 * k}) DRO moves from {base['dro_beyond']:.3f} to "
        f"{row['dro_beyond']:.3f}."
    )


def _grid(summary: pl.DataFrame, method: str, k: int) -> str | None:
    """The range of DRO@k and relevance over the method's grid; None for a single setting."""
    rows = summary.filter((pl.col("k") == k) & (pl.col("method") == method)).sort("param")
    if rows.height < 2:
        return None
    params = ", ".join(f"{p:g}" for p in rows["param"])
    return (
        f"Over {_symbol(method)} ∈ {{{params}}}, {BY_KEY[method].label} spans DRO@{k} "
        f"{rows['dro'].min():.3f}–{rows['dro'].max():.3f} and relevance "
        f"{rows['relevance'].min():.3f}–{rows['relevance'].max():.3f}."
    )


def _symbol(method: str) -> str:
    """The symbol of the method's trade-off parameter; ``param`` if it has none."""
    symbol = BY_KEY[method].symbol if method in BY_KEY else None
    return symbol or "param"


def _p(value: float) -> str:
    return "< 0.001" if value < 1e-3 else f"= {value:.3f}"


def _flat_columns(table: Table) -> list[str]:
    owners = [group for group, span in table.groups for _ in range(span)]
    if not owners:
        return list(table.columns)
    return [f"{owner} {column}" for owner, column in zip(owners, table.columns, strict=True)]


def _pipe(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell.replace("|", r"\|") for cell in cells) + " |"


def _cmidrules(groups: Sequence[tuple[str, int]]) -> list[str]:
    rules, start = [], 2
    for _, span in groups:
        rules.append(rf"\cmidrule(lr){{{start}-{start + span - 1}}}")
        start += span
    return rules
