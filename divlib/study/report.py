"""The report stage's work for one dataset: run the report notebook on the pipeline's outputs with the
settings of params.yaml it states, and write it executed (``.ipynb``) and as one page (``.html``), see
:mod:`divlib.study.notebook`."""

import logging
import time
from pathlib import Path

import nbformat

from divlib.io import atomic_path
from divlib.study.layout import Layout
from divlib.study.notebook import execute, to_html
from divlib.study.params import EXPERIMENTS, Params


def report_parameters(params: Params) -> dict:
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
    return {
        "k": params.diversity.k,
        "models": list(params.models),
        "seeds": list(params.seeds),
        "experiments": experiments,
    }


def write_report(layout: Layout, params: Params, dataset: str, notebook: Path) -> None:
    """Execute the report ``notebook`` (a jupytext .py or an .ipynb) for ``dataset``, run from the
    layout's root, which it reads as its ``root``, and write the report's two files atomically."""
    start = time.perf_counter()
    parameters = {"dataset": dataset, "root": str(layout.root)} | report_parameters(params)
    executed_notebook = execute(notebook, parameters, cwd=layout.root.resolve())
    executed = time.perf_counter()
    with atomic_path(layout.report(dataset, ".ipynb")) as temporary:
        nbformat.write(executed_notebook, temporary)
    with atomic_path(layout.report(dataset, ".html")) as temporary:
        temporary.write_text(to_html(executed_notebook, title=f"Diversity report: {dataset}"))
    logging.info(
        "%s: report executed in %.1f s, exported in %.1f s",
        dataset,
        executed - start,
        time.perf_counter() - executed,
    )
