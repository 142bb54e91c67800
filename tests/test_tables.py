"""The paper's tables from hand-made summaries: values, "mean (std)", settings, Markdown and LaTeX."""

import polars as pl
import pytest

from divlib.errors import DivlibError
from divlib.layout import Layout
from divlib.methods import ROWS
from divlib.tables import (
    describe_tradeoff,
    frame_table,
    gain_table,
    latex_escape,
    main_table,
    method_label,
    nearest_settings,
    paper_rows,
    read_summaries,
    result_tables,
    to_latex,
    to_markdown,
)

BASE = {"dro": 0.6, "relevance": 0.9, "dro_beyond": 0.7}
CHOOSE = {"ddt": 0.5, "mdr": 0.5, "mmr": 0.5, "dpp": 0.7}  # as in params.yaml


def summary_row(
    method: str, param: float | None, k: int = 10, std: float | None = None, **values
) -> dict:
    """One summary row: ``values`` over BASE, gains against BASE, the same ``std`` for every metric."""
    row = {"k": k, "method": method, "param": param, **BASE, **values}
    return row | {
        "dro_std": std, "relevance_std": std, "dro_beyond_std": std,
        "dro_gain": row["dro"] - BASE["dro"], "dro_beyond_gain": row["dro_beyond"] - BASE["dro_beyond"],
        "dro_p": None if method == "base" else 0.0004,
    }  # fmt: skip


def summary(*rows: dict) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema_overrides={"param": pl.Float64, "dro_std": pl.Float64,
                        "relevance_std": pl.Float64, "dro_beyond_std": pl.Float64,
                        "dro_p": pl.Float64})  # fmt: skip


NMF = summary(
    summary_row("base", None),
    summary_row("mmr", 0.3, dro=0.95, relevance=0.7),
    summary_row("mmr", 0.5, dro=0.9, relevance=0.8),
    summary_row("ddt", 0.2, dro=0.99, relevance=0.85, std=0.02),
    summary_row("ddt", 0.5, dro=0.97, relevance=0.88, dro_beyond=0.65, std=0.01),
    summary_row("ddt", 0.5, k=5, dro=0.9, dro_beyond=0.75, std=0.03),
)
PUBLISHED = pl.DataFrame(
    {
        "table": ["main", "main", "gain_beyond_k", "gain_beyond_k", "main"],
        "dataset": ["ml-1m", "ml-1m", "ml-1m", "ml-1m", "coat"],
        "model": ["nmf", "nmf", "nmf", "nmf", "nmf"],
        "method": ["base", "base", "ddt", "ddt", "base"],
        "param": [None, None, 0.5, 0.5, None],
        "k": [10, 10, 10, 10, 10],
        "metric": ["dro", "relevance", "gain_pct", "gain_beyond_pct", "dro"],
        "mean": ["0.62", "1.00", "37.2", "-0.0", "0.77"],
        "std": ["0.08", "0.00", "8.3", "5.1", "0.02"],
    }
)


def cells(table, label: str) -> tuple[str, ...]:
    return dict(table.rows)[label]


def test_main_table_prints_mean_and_std_over_seeds_at_the_chosen_settings():
    table = main_table(
        {"nmf": NMF}, k=10, dataset="toy", choose=CHOOSE, methods=("base", "mmr", "ddt", "dum")
    )
    assert table.groups == (("NMF", 2),)
    assert table.columns == ("DRO@10", "Relevance")
    assert cells(table, "Relevance only") == ("0.600", "0.900")  # one seed: no std
    assert cells(table, "MMR (λ = 0.5)") == ("0.900", "0.800")
    assert cells(table, "DDT (β = 0.5)") == ("0.970 (0.010)", "0.880 (0.010)")
    assert cells(table, "DUM") == ("–", "–")  # never ran


def test_main_table_takes_the_settings_it_is_given():
    table = main_table(
        {"nmf": NMF}, k=10, dataset="toy", methods=("mmr", "ddt"), choose={"mmr": 0.3, "ddt": 0.2}
    )
    assert cells(table, "MMR (λ = 0.3)") == ("0.950", "0.700")
    assert cells(table, "DDT (β = 0.2)") == ("0.990 (0.020)", "0.850 (0.020)")
    assert "MMR (λ = 0.3), DDT (β = 0.2)" in table.caption


def test_a_setting_that_did_not_run_or_is_not_chosen_is_an_error():
    with pytest.raises(DivlibError, match="ran at"):
        main_table({"nmf": NMF}, k=10, dataset="toy", choose={"mmr": 0.7})
    with pytest.raises(DivlibError, match="choose one"):
        main_table({"nmf": NMF}, k=10, dataset="toy", choose={"ddt": 0.5})


def test_main_table_shows_the_published_numbers_of_the_proxy_dataset_as_printed():
    published = paper_rows(PUBLISHED, "ml-100k")
    assert set(published["dataset"]) == {"ml-1m"}
    assert paper_rows(PUBLISHED, "kuairec") is None
    table = main_table(
        {"nmf": NMF}, k=10, dataset="ml-100k", choose=CHOOSE, published=published, methods=["base"]
    )
    assert table.groups == (("NMF", 2), ("paper ml-1m NMF", 2))
    assert cells(table, "Relevance only") == ("0.600", "0.900", "0.62 (0.08)", "1.00 (0.00)")
    assert "for ml-1m, another dataset than ours" in table.caption
    same = main_table({"nmf": NMF}, k=10, dataset="coat", choose=CHOOSE,
                      published=paper_rows(PUBLISHED, "coat"), methods=["base"])  # fmt: skip
    assert same.groups[-1] == ("paper NMF", 2)
    assert cells(same, "Relevance only")[2:] == ("0.77 (0.02)", "–")


def test_gain_table_prints_percentage_points_beside_the_paper():
    table = gain_table(
        {"nmf": NMF, "mf": NMF}, ks=[5, 10], trained_k=10, dataset="ml-100k", param=0.5,
        published=paper_rows(PUBLISHED, "ml-100k"),
    )  # fmt: skip
    assert table.groups == (("NMF", 4),)  # MF is not in the paper's gain table
    assert table.columns == ("ml-100k 1..k", "ml-100k k+1..2k", "paper ml-1m 1..k",
                             "paper ml-1m k+1..2k")  # fmt: skip
    assert cells(table, "10") == ("37.0 (1.0)", "-5.0 (1.0)", "37.2 (8.3)", "-0.0 (5.1)")
    assert cells(table, "5") == ("30.0 (3.0)", "5.0 (3.0)", "–", "–")
    assert "in percentage points" in table.caption and "at k = 10" in table.caption


def test_markdown_is_a_pipe_table_after_its_caption():
    text = to_markdown(
        main_table({"nmf": NMF}, k=10, dataset="toy", choose=CHOOSE, methods=("base", "ddt"))
    )
    caption, table = text.split("\n\n")
    assert caption.startswith("Diversity and relevance at k = 10 on toy.")
    lines = table.strip().split("\n")
    assert lines[0] == "| Method | NMF DRO@10 | NMF Relevance |"
    assert lines[1] == "| --- | ---: | ---: |"
    assert lines[3] == "| DDT (β = 0.5) | 0.970 (0.010) | 0.880 (0.010) |"
    assert len(lines) == 4


def test_latex_is_a_booktabs_tabular_with_spanning_groups():
    table = gain_table({"nmf": NMF, "ncf": NMF}, ks=[10], trained_k=10, dataset="ml_x", param=0.5)
    text = to_latex(table)
    assert text.startswith("\\begin{table}[t]\n\\centering\n\\caption{")
    assert "\\begin{tabular}{lrrrr}\n\\toprule\n" in text
    assert " & \\multicolumn{2}{c}{NMF} & \\multicolumn{2}{c}{NCF} \\\\\n" in text
    assert "\\cmidrule(lr){2-3} \\cmidrule(lr){4-5}\n" in text
    assert (
        "k & ml\\_x 1..k & ml\\_x k+1..2k & ml\\_x 1..k & ml\\_x k+1..2k \\\\\n\\midrule\n" in text
    )
    assert "10 & 37.0 (1.0) & $-$5.0 (1.0) & 37.0 (1.0) & $-$5.0 (1.0) \\\\\n\\bottomrule\n" in text
    assert text.endswith("\\end{tabular}\n\\end{table}\n")
    assert "DDT ($\\beta$ = 0.5)" in text and "dro\\_gain\\_pct" in text


def test_latex_escape():
    assert latex_escape("50% of a_b & β − 1") == r"50\% of a\_b \& $\beta$ $-$ 1"
    assert latex_escape("-0.5 (0.1)") == "$-$0.5 (0.1)"


def test_describe_tradeoff_states_the_numbers():
    sentences = describe_tradeoff(NMF, k=10, choose=CHOOSE, methods=("mmr", "ddt", "dum"))
    assert sentences[1] == (
        "DDT (β = 0.5) raises DRO@10 from 0.600 to 0.970 (Wilcoxon p < 0.001) while predicted "
        "relevance moves from 0.900 to 0.880; beyond the top 10 (ranks 11–20) DRO moves from 0.700 "
        "to 0.650."
    )
    with_ndcg = NMF.with_columns(ndcg=pl.when(pl.col("method") == "base").then(0.1).otherwise(0.05))
    assert (
        "0.880 and held-out NDCG@10 from 0.100 to 0.050; beyond"
        in describe_tradeoff(with_ndcg, k=10, choose=CHOOSE, methods=["ddt"])[0]
    )
    assert sentences[2].startswith("Highest DRO@10: DDT (β = 0.5) (0.970); highest relevance")
    assert (
        sentences[3]
        == "Over λ ∈ {0.3, 0.5}, MMR spans DRO@10 0.900–0.950 and relevance 0.700–0.800."
    )
    assert len(sentences) == 5  # DUM never ran


def test_frame_table_formats_floats_and_missing_values():
    frame = pl.DataFrame({"run": ["a", "b"], "x": [0.123456, None], "n": [3, 4]})
    table = frame_table(frame, "caption")
    assert table.stub == "run" and table.columns == ("x", "n")
    assert table.rows == (("a", ("0.1235", "3")), ("b", ("–", "4")))


def test_nearest_settings_moves_each_choice_to_a_setting_that_ran():
    summary = pl.DataFrame(
        {"method": ["ddt", "ddt", "mmr", "base"], "param": [0.2, 0.8, 0.5, None]},
        schema_overrides={"param": pl.Float64},
    )
    chosen = nearest_settings([summary], {"ddt": 0.5, "mmr": 0.5, "dpp": 0.7})
    assert chosen == {"ddt": 0.2, "mmr": 0.5}  # 0.2 and 0.8 tie: the lower; dpp never ran


def every_method(offset: float) -> pl.DataFrame:
    """A summary at k = 10 of every method, each (method, param) with its own values, + ``offset``."""
    grid = [("base", None), ("mmr", 0.3), ("mmr", 0.5), ("dum", None), ("dpp", 0.5), ("dpp", 0.7),
            ("ddt", 0.2), ("ddt", 0.5), ("ddt-adaptive", None), ("mdr", 0.5), ("mdr", 0.8)]  # fmt: skip
    return summary(
        *(
            summary_row(method, param, dro=0.1 + i / 100 + offset, relevance=0.5 + i / 100 + offset)
            for i, (method, param) in enumerate(grid)
        )
    )


def test_each_cell_of_the_main_table_holds_its_own_methods_and_models_value():
    summaries = {"nmf": every_method(0.0), "ncf": every_method(0.2)}
    table = main_table(summaries, k=10, dataset="toy", choose=CHOOSE)
    labels = ["Relevance only", "MMR (λ = 0.5)", "DUM", "DPP (θ = 0.7)", "DDT (β = 0.5)",
              "DDT-adaptive", "MDR (β = 0.5)"]  # fmt: skip
    assert [label for label, _ in table.rows] == labels  # the paper's rows, as labelled
    assert table.groups == (("NMF", 2), ("NCF", 2))
    for (_, row), method in zip(table.rows, ROWS, strict=True):
        expected = []
        for frame in summaries.values():
            at = frame.filter(method=method)
            if method in CHOOSE:
                at = at.filter(param=CHOOSE[method])
            expected += [f"{at['dro'].item():.3f}", f"{at['relevance'].item():.3f}"]
        assert row == tuple(expected)


def test_gain_table_cells_hold_each_models_gain_at_each_k():
    nmf = summary(summary_row("ddt", 0.5, dro=0.9, dro_beyond=0.8),
                  summary_row("ddt", 0.5, k=5, dro=0.65, dro_beyond=0.73))  # fmt: skip
    ncf = summary(summary_row("ddt", 0.5, dro=0.7, dro_beyond=0.6),
                  summary_row("ddt", 0.5, k=5, dro=0.61, dro_beyond=0.72))  # fmt: skip
    table = gain_table({"ncf": ncf, "nmf": nmf}, ks=[5, 10], trained_k=10, dataset="t", param=0.5)
    assert table.groups == (("NMF", 2), ("NCF", 2))  # the paper's model order
    assert cells(table, "10") == ("30.0", "10.0", "10.0", "-10.0")  # 100 · (DRO − DRO_base)
    assert cells(table, "5") == ("5.0", "3.0", "1.0", "2.0")


def test_result_tables_show_the_setting_nearest_the_chosen_one():
    tables = result_tables({"nmf": NMF}, dataset="toy", k=10, ks=[5, 10], published=None,
                           choose={"ddt": 0.45, "mdr": 0.5, "mmr": 0.6, "dpp": 0.7})  # fmt: skip
    assert list(tables) == ["main", "gain_beyond_k"]
    assert cells(tables["main"], "DDT (β = 0.5)") == ("0.970 (0.010)", "0.880 (0.010)")
    assert cells(tables["main"], "MMR (λ = 0.5)") == ("0.900", "0.800")  # 0.5 of {0.3, 0.5}
    assert "Settings: DDT (β = 0.5), MMR (λ = 0.5); DDT-adaptive" in tables["main"].caption
    assert cells(tables["gain_beyond_k"], "10") == ("37.0 (1.0)", "-5.0 (1.0)")
    assert "DDT (β = 0.5)" in tables["gain_beyond_k"].caption


def test_result_tables_without_ddt_runs_keep_the_chosen_beta():
    only_base = summary(summary_row("base", None))
    tables = result_tables({"nmf": only_base}, dataset="toy", k=10, ks=[10], published=None,
                           choose={"ddt": 0.3, "mdr": 0.5, "mmr": 0.5, "dpp": 0.7})  # fmt: skip
    assert cells(tables["gain_beyond_k"], "10") == ("–", "–")
    assert "DDT (β = 0.3)" in tables["gain_beyond_k"].caption


def test_read_summaries_reads_each_models_summary_or_names_the_missing_file(tmp_path):
    layout = Layout(tmp_path)
    for model, frame in (("nmf", NMF), ("mf", every_method(0.0))):
        layout.evaluation("toy", model).mkdir(parents=True)
        frame.write_parquet(layout.evaluation("toy", model) / "summary.parquet")
    summaries = read_summaries(layout, "toy", ["mf", "nmf"])
    assert list(summaries) == ["mf", "nmf"] and summaries["nmf"].equals(NMF)
    with pytest.raises(DivlibError, match="ncf/summary.parquet is missing: run the evaluate"):
        read_summaries(layout, "toy", ["nmf", "ncf"])


def test_method_label_names_methods_outside_the_vocabulary_by_key():
    assert method_label("ddt-scratch", {"ddt-scratch": 0.5}) == "DDT from scratch (β = 0.5)"
    assert method_label("dum", {"dum": 1.0}) == "DUM (param = 1)"
    assert method_label("new", {}) == "new"
