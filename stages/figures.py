"""Every figure of one dataset, from the evaluation, fine-tuning and sensitivity outputs.

    python stages/figures.py DATASET

Reads ``models``, ``diversity.k`` and ``finetune.scratch.beta`` from params.yaml. Writes, under
``reports/DATASET/``:

* ``figures/NAME.png`` and ``.pdf`` for NAME in beta_sweep, tradeoff, training_curves, adaptive_beta,
  sensitivity and category_histogram (see :mod:`divlib.plots`), and ``figures/case_study.md``: one
  user's top-k before and after DDT (see :mod:`divlib.figure_data`).
* for ``dvc plots``: ``plots/training/MODEL-REGIME.csv`` (step, progress, ddro, dro; DDT at the
  from-scratch β, fine-tuned and from scratch) and ``plots/adaptive_beta/MODEL.csv`` (step, beta,
  beta_low, beta_high), means over seeds as in the figures.
"""

import argparse
import logging

from common import LAYOUT, load_params, main_guard

from divlib import plots
from divlib.figure_data import case_study_markdown, load_figure_data, plot_series
from divlib.io import atomic_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    dataset = parser.parse_args().dataset
    params = load_params()
    k = params.diversity.k
    data = load_figure_data(
        LAYOUT, dataset, models=params.models, k=k, scratch_beta=params.finetune.scratch.beta
    )
    figures = LAYOUT.figures(dataset)
    drawn = set()
    for name, figure in plots.paper_figures(data, k=k):
        paths = plots.save_figure(figure, figures / name)
        drawn.add(name)
        logging.info("%s: %s", name, ", ".join(map(str, paths)))
    for name in sorted(set(plots.FIGURES) - drawn):
        logging.info("%s: skipped, no such runs in finetune.methods", name)
    with atomic_path(figures / "case_study.md") as temporary:
        temporary.write_text(case_study_markdown(data.case, dataset, k))
    series = LAYOUT.plots(dataset)
    for name, frame in plot_series(data).items():
        with atomic_path(series / f"{name}.csv") as temporary:
            frame.write_csv(temporary, float_precision=6)
    logging.info("case study and dvc plots data: %s, %s", figures / "case_study.md", series)


if __name__ == "__main__":
    main_guard(main)
