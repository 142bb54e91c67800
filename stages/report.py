"""Build one dataset's report: run notebooks/report.py on the pipeline's outputs and export it to HTML.

    python stages/report.py DATASET

Run from the project root, which the notebook reads as its ``root``; passes on from params.yaml
``diversity.k``, ``models``, ``seeds`` and each experiment's models, seeds and epochs, which the report
states. Writes the executed notebook ``reports/DATASET/report.ipynb`` and
``reports/DATASET/report.html``: self-contained (figures inline as base64, code hidden, no script loaded
from the internet: the report has no math, widgets or diagrams) and byte-stable across runs
(papermill's timings and paths and the random cell ids are removed).
"""

import argparse
import logging
import time
from pathlib import Path

import nbformat
from common import LAYOUT, load_params, main_guard

from divlib.io import atomic_path
from divlib.study.notebook import execute, to_html
from divlib.study.params import EXPERIMENTS, Params

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "report.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    dataset = parser.parse_args().dataset
    logging.getLogger("papermill").setLevel(logging.WARNING)
    start = time.perf_counter()
    parameters = {"dataset": dataset, "root": str(LAYOUT.root)} | settings(load_params())
    notebook = execute(NOTEBOOK, parameters, cwd=Path.cwd())
    executed = time.perf_counter()
    with atomic_path(LAYOUT.report(dataset, ".ipynb")) as temporary:
        nbformat.write(notebook, temporary)
    with atomic_path(LAYOUT.report(dataset, ".html")) as temporary:
        temporary.write_text(to_html(notebook, title=f"Diversity report: {dataset}"))
    logging.info("%s: report executed in %.1f s, exported in %.1f s", dataset,
                 executed - start, time.perf_counter() - executed)  # fmt: skip


def settings(params: Params) -> dict:
    """The notebook's parameters from params.yaml: k, models, seeds, and each experiment's models,
    seeds and epochs."""
    experiments = {
        name: {
            "models": list(params.experiment(name).models),
            "seeds": params.seeds_of(name),
            "epochs": params.experiment(name).epochs,
        }
        for name in EXPERIMENTS
    }
    return {"k": params.diversity.k, "models": list(params.models), "seeds": list(params.seeds),
            "experiments": experiments}  # fmt: skip


if __name__ == "__main__":
    main_guard(main)
