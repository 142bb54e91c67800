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

from divlib.study.cli import dataset_argument, load_params, main_guard
from divlib.study.layout import HERE
from divlib.study.plots import write_figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    dataset_argument(parser)
    write_figures(HERE, load_params(), parser.parse_args().dataset)


if __name__ == "__main__":
    main_guard(main)
