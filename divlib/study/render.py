"""Rendering of the study's tables: one :class:`Table` object, written as Markdown (a pipe table under
its caption), LaTeX (booktabs) or JSON, and the number formats that the tables and the verdicts share
("mean (std)" over seeds, :data:`MISSING` for what did not run)."""

import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl

from divlib.io import atomic_path

MISSING = "–"


_LATEX = {
    "&": r"\&",
    "%": r"\%",
    "_": r"\_",
    "#": r"\#",
    "$": r"\$",
    "–": "--",
    "−": "$-$",
    "·": r"$\cdot$",
    "λ": r"$\lambda$",
    "θ": r"$\theta$",
    "β": r"$\beta$",
    "σ": r"$\sigma$",
    "≈": r"$\approx$",
    "×": r"$\times$",
    "r̂": r"$\hat r$",
    "∼": r"$\sim$",
    "≥": r"$\geq$",
    "≤": r"$\leq$",
    "±": r"$\pm$",
    "…": r"\ldots{}",
    "|": r"$|$",
}


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


def frame_table(frame: pl.DataFrame, caption: str = "", digits: int = 4) -> Table:
    """A frame as a table: its first column the stub, floats to ``digits`` significant digits."""
    stub, *columns = frame.columns
    rows = tuple(
        (str(row[0]), tuple(cell(value, digits) for value in row[1:])) for row in frame.iter_rows()
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


def write_table(table: Table, path: Path) -> None:
    """``table`` as JSON at ``path`` (atomically), for a report to render as it likes."""
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(asdict(table), ensure_ascii=False, indent=1) + "\n")


def read_table(path: Path) -> Table:
    """The table :func:`write_table` wrote at ``path``."""
    fields = json.loads(path.read_text())
    return Table(
        caption=fields["caption"],
        stub=fields["stub"],
        groups=tuple((label, span) for label, span in fields["groups"]),
        columns=tuple(fields["columns"]),
        rows=tuple((label, tuple(cells)) for label, cells in fields["rows"]),
    )


def mean_std(mean: float | None, std: float | None, digits: int = 3) -> str:
    """ "mean (std)" to ``digits`` decimals, "mean" without a std, :data:`MISSING` without a mean."""
    if not is_number(mean):
        return MISSING
    return f"{mean:.{digits}f}" + (f" ({std:.{digits}f})" if is_number(std) else "")


def number(value: float | None, digits: int) -> str:
    """``value`` to ``digits`` decimals; :data:`MISSING` for None or NaN."""
    return f"{value:.{digits}f}" if is_number(value) else MISSING


def is_number(value: float | None) -> bool:
    """Neither None nor NaN."""
    return value is not None and not math.isnan(value)


def cell(value: object, digits: int) -> str:
    """A table cell: floats to ``digits`` significant digits, :data:`MISSING` for None or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


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
