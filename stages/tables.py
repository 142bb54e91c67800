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

from common import LAYOUT, load_params, main_guard

from divlib.io import atomic_path
from divlib.tables import (
    paper_rows,
    read_published,
    read_summaries,
    result_tables,
    to_latex,
    to_markdown,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    dataset = parser.parse_args().dataset
    params = load_params()
    start = time.perf_counter()
    tables = result_tables(
        read_summaries(LAYOUT, dataset, params.models),
        dataset=dataset,
        k=params.diversity.k,
        ks=params.evaluate.ks,
        choose=params.tables.choose.model_dump(),
        published=paper_rows(read_published(LAYOUT.published()), dataset),
    )
    out = LAYOUT.tables(dataset)
    for name, table in tables.items():
        for suffix, render in ((".md", to_markdown), (".tex", to_latex)):
            with atomic_path(out / f"{name}{suffix}") as temporary:
                temporary.write_text(render(table))
    logging.info("%s: tables written to %s in %.1f s", dataset, out, time.perf_counter() - start)


if __name__ == "__main__":
    main_guard(main)
