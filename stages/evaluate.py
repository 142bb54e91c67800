"""Evaluate one experiment's runs on one dataset × model, or (``baselines``) the pretrained models and
their re-rankings.

    python stages/evaluate.py EXPERIMENT DATASET MODEL

EXPERIMENT is ``baselines`` (each seed's pretrained model, method ``base``, the re-rankers' lists of
it and the anchors ``popular`` and ``random``) or an experiment of params.yaml whose runs are
evaluated (``beta_sweep``, ``main_table``, ``gain_beyond_k``, ``adaptive_beta``). Reads
``evaluate.ks`` (and, for ``baselines``, ``seeds``). Lists are ranked over the items a user did not
rate in training or validation; every run is evaluated at every k (its own k is ``train_k``). Writes
``data/evaluation/DATASET/MODEL/EXPERIMENT/per_user.parquet`` (one row per run, k and user) and
``summary.parquet`` (mean (std) over seeds, gains and Wilcoxon p-values against the pretrained
models, which an experiment's summary includes); see
:func:`divlib.study.evaluation.evaluate_experiment`.
"""

import argparse

from divlib.study.cli import dataset_argument, load_params, main_guard
from divlib.study.evaluation import BASELINES, evaluate_experiment
from divlib.study.params import EXPERIMENTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", choices=(BASELINES, *EXPERIMENTS))
    dataset_argument(parser)
    parser.add_argument("model")
    args = parser.parse_args()
    params = load_params()
    evaluate_experiment(
        args.experiment, params.evaluate.ks, params.seeds, dataset=args.dataset, model=args.model
    )


if __name__ == "__main__":
    main_guard(main)
