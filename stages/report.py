"""Build one dataset's report: run notebooks/report.py on the pipeline's outputs and export it to HTML.

    python stages/report.py DATASET

Run from the project root, which the notebook reads as its ``root``; passes on from params.yaml
``diversity.k``, ``models``, ``seeds`` and each experiment's models, seeds and epochs, which the report
states. Writes the executed notebook ``reports/DATASET/report.ipynb`` and
``reports/DATASET/report.html``: self-contained (figures inline as base64, code hidden, no script loaded
from the internet: the report has no math, widgets or diagrams) and byte-stable across runs
(papermill's timings and paths and the random cell ids are removed); see
:func:`divlib.study.report.write_report`.
"""

import argparse
import logging
from pathlib import Path

from divlib.study.cli import dataset_argument, load_params, main_guard
from divlib.study.layout import HERE
from divlib.study.report import write_report

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "report.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    dataset_argument(parser)
    logging.getLogger("papermill").setLevel(logging.WARNING)
    write_report(HERE, load_params(), parser.parse_args().dataset, NOTEBOOK)


if __name__ == "__main__":
    main_guard(main)
