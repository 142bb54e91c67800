"""Build one dataset's report: run notebooks/report.py on the pipeline's outputs and export it to HTML.

    python stages/report.py DATASET

Run from the project root, which the notebook reads as its ``root``; ``tables.choose`` of params.yaml is
passed on as its ``choose``. Writes the executed notebook
``reports/DATASET/report.ipynb`` and ``reports/DATASET/report.html``: self-contained (figures inline as
base64, code hidden, no script loaded from the internet: the report has no math, widgets or diagrams)
and byte-stable across runs (papermill's timings and paths and the random cell ids are removed).
"""

import argparse
import logging
import time
from pathlib import Path

import nbformat
from common import LAYOUT, load_params, main_guard

from divlib.io import atomic_path
from divlib.notebook import execute, to_html

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "report.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    dataset = parser.parse_args().dataset
    choose = load_params().tables.choose.model_dump()
    logging.getLogger("papermill").setLevel(logging.WARNING)
    start = time.perf_counter()
    parameters = {"dataset": dataset, "root": str(LAYOUT.root), "choose": choose}
    notebook = execute(NOTEBOOK, parameters, cwd=Path.cwd())
    executed = time.perf_counter()
    with atomic_path(LAYOUT.report(dataset, ".ipynb")) as temporary:
        nbformat.write(notebook, temporary)
    with atomic_path(LAYOUT.report(dataset, ".html")) as temporary:
        temporary.write_text(to_html(notebook, title=f"Diversity report: {dataset}"))
    logging.info("%s: report executed in %.1f s, exported in %.1f s", dataset,
                 executed - start, time.perf_counter() - executed)  # fmt: skip


if __name__ == "__main__":
    main_guard(main)
