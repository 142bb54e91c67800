"""Write the paper's tables for one dataset: the main table and the diversity gain beyond k.

    python stages/tables.py DATASET

Reads ``models``, ``diversity.k``, ``evaluate.ks`` and ``tables.choose`` (the setting of each trade-off
grid to show; the nearest one that ran if it did not) from params.yaml, the summaries
``data/evaluation/DATASET/MODEL/summary.parquet`` and the published numbers ``reports/paper/published.csv``.
Writes ``reports/DATASET/tables/{main,gain_beyond_k}.{md,tex}`` (see :mod:`divlib.tables`).
"""

import argparse
import logging
import time
from pathlib import Path

import polars as pl
from common import main_guard, read_params

from divlib.errors import DivlibError
from divlib.io import atomic_path
from divlib.tables import (
    gain_table,
    main_table,
    nearest_settings,
    paper_rows,
    read_published,
    to_latex,
    to_markdown,
)

PUBLISHED = Path("reports/paper/published.csv")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    args = parser.parse_args()
    models, k, ks = (
        read_params("models"),
        read_params("diversity", "k"),
        read_params("evaluate", "ks"),
    )
    start = time.perf_counter()
    summaries = {model: _summary(args.dataset, model) for model in models}
    choose = nearest_settings(summaries.values(), read_params("tables", "choose"))
    published = paper_rows(read_published(PUBLISHED), args.dataset)
    tables = {
        "main": main_table(
            summaries, k=k, dataset=args.dataset, published=published, choose=choose
        ),
        "gain_beyond_k": gain_table(
            summaries,
            ks=ks,
            trained_k=k,
            dataset=args.dataset,
            published=published,
            param=choose.get("ddt", 0.5),
        ),  # fmt: skip
    }
    out = Path("reports") / args.dataset / "tables"
    for name, table in tables.items():
        for suffix, render in ((".md", to_markdown), (".tex", to_latex)):
            with atomic_path(out / f"{name}{suffix}") as temporary:
                temporary.write_text(render(table))
    logging.info(
        "%s: tables written to %s in %.1f s", args.dataset, out, time.perf_counter() - start
    )


def _summary(dataset: str, model: str) -> pl.DataFrame:
    path = Path("data/evaluation") / dataset / model / "summary.parquet"
    if not path.is_file():
        raise DivlibError(f"{path} is missing: run the evaluate stage for {dataset}/{model} first")
    return pl.read_parquet(path)


if __name__ == "__main__":
    main_guard(main)
