"""Every figure of one dataset, from the experiments' runs and evaluations and the sensitivity results.

    python stages/figures.py DATASET

Reads ``diversity.k`` and the models of ``beta_sweep``, ``training_curves``, ``adaptive_beta`` and
``main_table`` from params.yaml. Writes, under ``reports/DATASET/``:

* ``figures/NAME.png`` and ``.pdf`` for NAME in fig1_beta_sweep, fig2_training_curves,
  fig_lemma3_adaptive_beta, tradeoff, q2_pareto_predicted, q2_pareto_ndcg, sensitivity,
  fig4_beta_sweep_appendix and category_histogram
  (see :mod:`divlib.study.plots`; the data: :mod:`divlib.study.figure_data`).
"""

import argparse
import logging

from common import LAYOUT, load_params, main_guard

from divlib.study import plots
from divlib.study.figure_data import load_figure_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    dataset = parser.parse_args().dataset
    params = load_params()
    k = params.diversity.k
    data = load_figure_data(
        LAYOUT,
        dataset,
        sweep=params.beta_sweep.models,
        curves=params.training_curves.models,
        adaptive=params.adaptive_beta.models,
        main=params.main_table.models,
        case=params.main_table.models[0],
        beta=params.chosen_beta,
        k=k,
    )
    missing = sorted(set(plots.APPENDIX_METRICS) - set(plots.appendix_metrics(data.sweep)))
    if missing:
        logging.info(
            "fig4_beta_sweep_appendix: no %s in the summaries; left out", ", ".join(missing)
        )
    figures = LAYOUT.figures(dataset)
    for name, figure in plots.paper_figures(data, k=k):
        paths = plots.save_figure(figure, figures / name)
        logging.info("%s: %s", name, ", ".join(map(str, paths)))


if __name__ == "__main__":
    main_guard(main)
