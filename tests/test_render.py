"""Rendering a table: Markdown, LaTeX and JSON of hand-made tables, and the shared number formats."""

import math

import polars as pl
from test_tables import gain_summary

from divlib.study.render import (
    MISSING,
    Table,
    frame_table,
    is_number,
    latex_escape,
    mean_std,
    number,
    read_table,
    to_latex,
    to_markdown,
    write_table,
)
from divlib.study.tables import gain_table


def test_markdown_is_a_pipe_table_after_its_caption():
    table = gain_table(
        gain_summary(),
        method="mdr",
        dataset="toy",
        models=["nmf"],
        ks=[10],
        beta=0.5,
        epochs=10,
        seeds=[1],
        published=None,
    )
    caption, body = to_markdown(table).split("\n\n")
    assert caption == table.caption
    assert body.strip().split("\n") == [
        "| k | NMF ours 1..k | NMF ours k+1..2k |",
        "| --- | ---: | ---: |",
        "| 10 | 50.0 (10.0) | 20.0 (10.0) |",
    ]


def test_latex_is_a_booktabs_tabular_with_spanning_groups():
    table = gain_table(
        gain_summary(),
        method="ddt",
        dataset="ml_x",
        models=["nmf", "ncf"],
        ks=[10],
        beta=0.5,
        epochs=10,
        seeds=[1],
        published=None,
    )
    text = to_latex(table)
    assert text.startswith("\\begin{table}[t]\n\\centering\n\\caption{Table IV")
    assert "\\begin{tabular}{lrrrr}\n\\toprule\n" in text
    assert " & \\multicolumn{2}{c}{NMF} & \\multicolumn{2}{c}{NCF} \\\\\n" in text
    assert "\\cmidrule(lr){2-3} \\cmidrule(lr){4-5}\n" in text
    assert "k & ours 1..k & ours k+1..2k & ours 1..k & ours k+1..2k \\\\\n\\midrule\n" in text
    assert "10 & 11.0 (2.0) & $-$11.0 & 22.0 (3.0) & 11.0 (1.0) \\\\\n\\bottomrule\n" in text
    assert text.endswith("\\end{tabular}\n\\end{table}\n")
    assert "DDT ($\\beta$ = 0.5" in text and "on ml\\_x" in text


def test_latex_escape():
    assert latex_escape("50% of a_b & β − 1") == r"50\% of a\_b \& $\beta$ $-$ 1"
    assert latex_escape("-0.5 (0.1)") == "$-$0.5 (0.1)"
    assert latex_escape("|x| ≥ 1 ± 2 …") == r"$|$x$|$ $\geq$ 1 $\pm$ 2 \ldots{}"


def test_frame_table_formats_floats_and_missing_values():
    table = frame_table(pl.DataFrame({"run": ["a", "b"], "x": [0.123456, None], "n": [3, 4]}), "c")
    assert table.stub == "run" and table.columns == ("x", "n")
    assert table.rows == (("a", ("0.1235", "3")), ("b", ("–", "4")))


def test_a_table_read_back_from_json_is_the_table_written(tmp_path):
    table = Table("cap β", "k", (("NMF", 2),), ("a", "b"), (("10", ("1.0 (0.1)", MISSING)),))
    write_table(table, tmp_path / "t.json")
    assert read_table(tmp_path / "t.json") == table
    assert to_markdown(read_table(tmp_path / "t.json")) == to_markdown(table)
    assert [p.name for p in tmp_path.iterdir()] == ["t.json"]  # nothing temporary left


def test_mean_std_and_number_formats():
    assert mean_std(0.12345, 0.01, 3) == "0.123 (0.010)"
    assert mean_std(0.5, None, 1) == "0.5" and mean_std(-0.5, math.nan, 1) == "-0.5"
    assert mean_std(None, 0.1, 2) == mean_std(math.nan, 0.1, 2) == MISSING
    assert number(None, 1) == number(math.nan, 1) == MISSING
    assert number(2.345, 2) == "2.35" and not is_number(math.nan) and is_number(0.0)
