"""The paper's tables from hand-made summaries: each cell's run, "mean (std)", the published values
beside ours (their rendering: tests/test_render.py)."""

import polars as pl
import pytest

from divlib import DivlibError
from divlib.study.readers import paper_rows
from divlib.study.tables import gain_table, headline_metrics, model_order, published_value, table3

SCHEMA = {
    "param": pl.Float64,
    "train_k": pl.Int64,
    "dro_std": pl.Float64,
    "relevance_std": pl.Float64,
    "dro_gain": pl.Float64,
    "dro_gain_std": pl.Float64,
    "dro_beyond_gain": pl.Float64,
    "dro_beyond_gain_std": pl.Float64,
    "mse": pl.Float64,
    "mse_std": pl.Float64,
    "precision_std": pl.Float64,
    "recall_std": pl.Float64,
    "seeds": pl.Int64,
}


def row(model, method, param=None, train_k=None, k=10, **values) -> dict:
    return {"model": model, "k": k, "method": method, "param": param, "train_k": train_k} | values


def frame(*rows: dict) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema_overrides=SCHEMA)


PUBLISHED = pl.DataFrame(
    {
        "table": ["main"] * 6 + ["gain_beyond_k"] * 3 + ["main"],
        "dataset": ["ml-1m"] * 9 + ["coat"],
        "model": ["nmf", "nmf", "nmf", None, "nmf", "ncf", "nmf", "nmf", "ncf", "nmf"],
        "method": ["base", "mmr", "dpp", "dgrec", "ddt", "ddt", "ddt", "ddt", "ddt", "base"],
        "param": [None, None, None, None, 0.2, 0.2, 0.5, 0.5, 0.5, None],
        "k": [10] * 6 + [10, 10, 5] + [10],
        "metric": [
            "relevance",
            "dro",
            "dro",
            "dro",
            "dro",
            "dro",
            "gain_pct",
            "gain_beyond_pct",
            "gain_pct",
            "dro",
        ],
        "mean": ["1.00", "0.94", "0.98", "0.73", "1.00", "0.50", "37.2", "-0.0", "46.8", "0.77"],
        "std": ["0.00", "0.03", "0.01", "0.01", "0.00", "0.10", "8.3", "5.1", "13.0", "0.02"],
    }
)
TABLE3 = dict(k=10, betas=[0.2], epochs=100, seeds=[1, 2, 3], select="most-diverse")


def main_summary(model: str, offset: float, seeds: int = 3) -> list[dict]:
    """A baselines + main_table summary of one model over ``seeds`` seeds; each run its own values
    (+ offset): DRO, predicted relevance, NDCG; precision = NDCG / 2, recall = 2 · NDCG; MSE for the
    models (none for the re-rankers and anchors); item coverage = DRO / 2, Gini = 1 − DRO / 2,
    entropy = 5 · DRO (DRO without the offset)."""
    values = {
        ("popular", None): (0.55, 0.90, 0.05),
        ("random", None): (0.85, 0.30, 0.004),
        ("base", None): (0.62, 0.98, 0.04),
        ("mmr-paper", None): (0.94, 0.95, 0.03),
        ("dum", None): (0.93, 0.91, 0.045),
        ("dpp-paper", None): (0.98, 0.95, 0.035),
        ("dgrec", None): (0.82, 0.38, 0.02),
        ("mmr", 0.5): (0.5, 0.5, 0.5),
        ("ddt", 0.5): (0.4, 0.4, 0.4),
        ("ddt", 0.2): (0.99, 0.97, 0.01),
        ("mdr", 0.2): (0.97, 0.96, 0.012),
    }
    mse = {"base": 0.9, "ddt": 1.1, "mdr": 1.0}
    rows = [
        row(
            model,
            method,
            param,
            10 if param else None,
            dro=dro + offset,
            dro_std=0.01,
            relevance=relevance + offset,
            relevance_std=0.02,
            ndcg=ndcg,
            ndcg_std=0.001,
            precision=ndcg / 2,
            precision_std=None,
            recall=2 * ndcg,
            recall_std=None,
            mse=mse.get(method),
            mse_std=0.1 if method in mse else None,
            item_coverage=dro / 2,
            item_coverage_std=0.005,
            gini=1 - dro / 2,
            gini_std=0.004,
            entropy=5 * dro,
            entropy_std=0.03,
            seeds=seeds,
            dro_beyond_gain=0.054 if method == "ddt" else 0.0,
        )
        for (method, param), (dro, relevance, ndcg) in values.items()
    ]
    return rows + [
        rows[0],
        row(
            model,
            "ddt",
            0.2,
            10,
            k=5,
            dro=0.1,
            relevance=0.1,
            ndcg=0.2,
            item_coverage=0.05,
            gini=0.95,
            entropy=0.5,
            seeds=seeds,
            dro_beyond_gain=0.01,
        ),
    ]


def cells(table, label: str) -> tuple[str, ...]:
    return dict(table.rows)[label]


COLUMNS = (
    "DRO@10",
    "item coverage@10",
    "Gini@10",
    "entropy@10 (nats)",
    "relevance@10 (predicted)",
    "precision@10",
    "recall@10",
    "NDCG@10",
    "test MSE",
)


def test_table3_rows_are_the_papers_each_from_its_own_run():
    summary = frame(*main_summary("nmf", 0.0), *main_summary("ncf", 0.001))
    table = table3(summary, dataset="toy", models=["nmf", "ncf"], published=None, **TABLE3)
    assert [label for label, _ in table.rows] == [
        "Most popular",
        "Random",
        "Relevance only",
        "MMR (λ = 0.5, EXPLORE)",
        "DUM",
        "DPP (q = r, EXPLORE)",
        "DGRec",
        "DDT (β = 0.2)",
        "MDR (β = 0.2)",
    ]
    assert table.groups == (("NMF", 9), ("NCF", 9)) and table.columns == COLUMNS * 2
    aggregates = ("0.310 (0.005)", "0.690 (0.004)", "3.100 (0.030)")  # item coverage, Gini, entropy
    assert cells(table, "Relevance only") == (
        "0.620 (0.010)",
        *aggregates,
        "0.980 (0.020)",
        "0.020",
        "0.080",
        "0.040 (0.001)",
        "0.900 (0.100)",
        "0.621 (0.010)",
        *aggregates,
        "0.981 (0.020)",
        "0.020",
        "0.080",
        "0.040 (0.001)",
        "0.900 (0.100)",
    )
    assert cells(table, "Most popular")[:9] == (
        "0.550 (0.010)",
        "0.275 (0.005)",
        "0.725 (0.004)",
        "2.750 (0.030)",
        "0.900 (0.020)",
        "0.025",
        "0.100",
        "0.050 (0.001)",
        "–",
    )
    assert cells(table, "Random")[7:9] == ("0.004 (0.001)", "–")
    mmr, dpp = cells(table, "MMR (λ = 0.5, EXPLORE)"), cells(table, "DPP (q = r, EXPLORE)")
    assert (mmr[0], mmr[4]) == ("0.940 (0.010)", "0.950 (0.020)")  # DRO, relevance
    assert mmr[8] == "–"  # a re-ranker predicts no ratings
    assert (dpp[0], dpp[4]) == ("0.980 (0.010)", "0.950 (0.020)")
    assert cells(table, "DDT (β = 0.2)")[:9] == (
        "0.990 (0.010)",
        "0.495 (0.005)",
        "0.505 (0.004)",
        "4.950 (0.030)",
        "0.970 (0.020)",
        "0.005",
        "0.020",
        "0.010 (0.001)",
        "1.100 (0.100)",
    )
    mdr = cells(table, "MDR (β = 0.2)")
    assert (mdr[9], mdr[13]) == ("0.971 (0.010)", "0.961 (0.020)")  # NCF's DRO, relevance
    dgrec = cells(table, "DGRec")  # its own run
    assert (dgrec[0], dgrec[4], dgrec[8]) == ("0.820 (0.010)", "0.380 (0.020)", "–")  # no ratings
    for text in (
        "the same seeds 1, 2, 3",
        "for 100 epochs",
        "'most-diverse'",
        "trained per seed on the training split",
        "(predicted, eq. 12)",
        "on held-out ratings",
        "anchors without a model",
        "item coverage@10, the share of the catalogue",
        "Gini index of how often each catalogue item is listed",
        "in nats",
    ):
        assert text in table.caption
    assert "The paper publishes no numbers" in table.caption


def test_table3_refuses_a_row_over_other_seeds_than_its_caption_names():
    summary = frame(*main_summary("nmf", 0.0, seeds=3)[:-1], row("nmf", "ddt", 0.2, 10, seeds=2))
    summary = summary.filter(~((pl.col("method") == "ddt") & (pl.col("seeds") == 3)))
    with pytest.raises(
        DivlibError,
        match=r"the DDT \(β = 0.2\) row averages 2 seeds, the "
        r"caption names 3 \(1, 2, 3\)",
    ):
        table3(summary, dataset="toy", models=["nmf"], published=None, **TABLE3)


def test_table3_shows_the_proxy_datasets_printed_values_and_what_did_not_run():
    summary = frame(*[r for r in main_summary("nmf", 0.0) if r["method"] != "dum"])
    table = table3(
        summary,
        dataset="ml-100k",
        models=["nmf"],
        published=paper_rows(PUBLISHED, "ml-100k"),
        **TABLE3,
    )
    assert table.groups == (("NMF", 9), ("paper ml-1m NMF", 2))
    assert table.columns == (*COLUMNS, "DRO@10", "relevance@10 (predicted)")
    assert cells(table, "Relevance only")[9:] == ("–", "1.00 (0.00)")
    assert cells(table, "MMR (λ = 0.5, EXPLORE)")[9:] == ("0.94 (0.03)", "–")  # the paper's MMR
    assert cells(table, "DPP (q = r, EXPLORE)")[9:] == ("0.98 (0.01)", "–")
    assert cells(table, "DGRec")[9:] == ("0.73 (0.01)", "–")  # no model in the paper's row
    assert cells(table, "DDT (β = 0.2)")[9:] == ("1.00 (0.00)", "–")  # NMF's, not NCF's 0.50
    assert cells(table, "Most popular")[9:] == ("–", "–")  # the paper has no anchors
    assert cells(table, "DUM") == ("–",) * 11  # not run, not in PUBLISHED
    assert "for ml-1m, another dataset than ours" in table.caption


def gain_summary() -> pl.DataFrame:
    """ddt at β = 0.5 trained for k = 5 and 10, each evaluated at k = 5 and 10; an mdr run."""
    runs = []
    for train_k in (5, 10):
        for k in (5, 10):
            gain = 0.01 * train_k + 0.001 * k  # a value naming its run and its k
            runs += [
                row(
                    "nmf",
                    "ddt",
                    0.5,
                    train_k,
                    k,
                    dro_gain=gain,
                    dro_gain_std=0.02,
                    dro_beyond_gain=-gain,
                    dro_beyond_gain_std=None,
                ),
                row(
                    "ncf",
                    "ddt",
                    0.5,
                    train_k,
                    k,
                    dro_gain=2 * gain,
                    dro_gain_std=0.03,
                    dro_beyond_gain=gain,
                    dro_beyond_gain_std=0.01,
                ),
            ]
    runs.append(
        row(
            "nmf",
            "mdr",
            0.5,
            10,
            10,
            dro_gain=0.5,
            dro_gain_std=0.1,
            dro_beyond_gain=0.2,
            dro_beyond_gain_std=0.1,
        )
    )
    return frame(*runs)


def test_gain_table_reads_the_run_trained_for_each_k_at_that_k_in_points():
    table = gain_table(
        gain_summary(),
        method="ddt",
        dataset="ml-100k",
        models=["nmf", "ncf"],
        ks=[5, 10],
        beta=0.5,
        epochs=10,
        seeds=[1, 2],
        published=paper_rows(PUBLISHED, "ml-100k"),
    )
    assert table.groups == (("NMF", 4), ("NCF", 4))
    assert (
        table.columns
        == ("ours 1..k", "ours k+1..2k", "paper ml-1m 1..k", "paper ml-1m k+1..2k") * 2
    )
    # k = 5: the run trained for 5 at 5, gain 0.055; k = 10: trained for 10 at 10, gain 0.11
    assert cells(table, "5") == (
        "5.5 (2.0)",
        "-5.5",
        "–",
        "–",
        "11.0 (3.0)",
        "5.5 (1.0)",
        "46.8 (13.0)",
        "–",
    )
    assert cells(table, "10") == (
        "11.0 (2.0)",
        "-11.0",
        "37.2 (8.3)",
        "-0.0 (5.1)",
        "22.0 (3.0)",
        "11.0 (1.0)",
        "–",
        "–",
    )
    assert table.caption.startswith("Table IV: diversity gain of DDT (β = 0.5, 10 fine-tuning")
    for text in (
        "seeds 1, 2",
        "the run fine-tuned for that k, evaluated at that k",
        "order of the printed header",
        "interleaved",
        "caveat 1",
    ):
        assert text in table.caption
    mdr = gain_table(
        gain_summary(),
        method="mdr",
        dataset="toy",
        models=["nmf"],
        ks=[5, 10],
        beta=0.5,
        epochs=10,
        seeds=[1],
        published=None,
    )
    assert mdr.caption.startswith("Table VI") and mdr.columns == ("ours 1..k", "ours k+1..2k")
    assert dict(mdr.rows) == {"5": ("–", "–"), "10": ("50.0 (10.0)", "20.0 (10.0)")}


def test_published_value_is_printed_as_in_the_paper():
    assert published_value(PUBLISHED, method="ddt", metric="gain_beyond_pct") == "-0.0 (5.1)"
    assert published_value(PUBLISHED, method="mdr") == "–" and published_value(None) == "–"
    assert paper_rows(PUBLISHED, "coat")["mean"].to_list() == ["0.77"]
    assert paper_rows(PUBLISHED, "kuairec") is None


def test_model_order_is_the_papers():
    assert model_order(["ncf", "zz", "nmf", "mf"]) == ["nmf", "mf", "ncf", "zz"]


@pytest.mark.parametrize("method", ["ddt", "mdr"])
def test_gain_tables_of_a_method_that_never_ran_are_empty_cells(method):
    empty = frame(row("nmf", "base", dro_gain=0.0, dro_gain_std=0.0, dro_beyond_gain=0.0))
    table = gain_table(
        empty,
        method=method,
        dataset="toy",
        models=["nmf"],
        ks=[5],
        beta=0.5,
        epochs=10,
        seeds=[1],
        published=None,
    )
    assert table.rows == (("5", ("–", "–")),)


def test_headline_metrics_key_table3s_rows_by_role_at_the_chosen_beta_and_k():
    summary = frame(
        *main_summary("nmf", 0.0),
        row("nmf", "base", k=5, dro=0.13, relevance=0.14, ndcg=0.15, dro_beyond_gain=0.0),
    )  # base at k = 5, as ddt's 0.1 (main_summary)
    headline = headline_metrics(summary, models=["nmf", "ncf"], k=10, beta=0.2)
    assert headline == {
        "nmf": {
            "base": {"dro@10": 0.62, "ndcg@10": 0.04},
            "mmr": {"dro@10": 0.94},  # the paper's MMR, not the tuned grid
            "dum": {"dro@10": 0.93},
            "dpp": {"dro@10": 0.98},
            # β = 0.2; the beyond-k gain 0.054 in points, 100 × 0.054; item coverage 0.495 in
            # percent of the catalogue
            "ddt": {
                "dro@10": 0.99,
                "relevance@10": 0.97,
                "ndcg@10": 0.01,
                "gain_beyond_pp@10": 5.4,
                "item_coverage_pct@10": 49.5,
                "gini@10": 0.505,
                "entropy_nats@10": 4.95,
            },
            "mdr": {"dro@10": 0.97},
        },
        "ncf": {},  # not run: left out, nothing in its place
    }
    assert sum(map(len, headline["nmf"].values())) == 13
    at_five = headline_metrics(summary, models=["nmf"], k=5, beta=0.2)["nmf"]
    assert at_five == {
        "base": {"dro@5": 0.13, "ndcg@5": 0.15},
        "ddt": {
            "dro@5": 0.1,
            "relevance@5": 0.1,
            "ndcg@5": 0.2,
            "gain_beyond_pp@5": 1.0,
            "item_coverage_pct@5": 5.0,
            "gini@5": 0.95,
            "entropy_nats@5": 0.5,
        },
    }
    other_beta = headline_metrics(summary, models=["nmf"], k=10, beta=0.5)["nmf"]["ddt"]
    assert other_beta["dro@10"] == 0.4  # ddt at β = 0.5, not 0.2
    assert "mdr" not in headline_metrics(summary, models=["nmf"], k=10, beta=0.5)["nmf"]
