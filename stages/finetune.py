"""Fine-tune one pretrained model for diversity: the runs of one of the paper's experiments.

    python stages/finetune.py EXPERIMENT DATASET MODEL

EXPERIMENT is a section of params.yaml: ``beta_sweep`` (Q1), ``main_table`` (Q2), ``gain_beyond_k``
(Q3, one run per k), ``training_curves`` (Q4, fine-tuned and from scratch) or ``adaptive_beta``
(Lemma 3); see :func:`divlib.study.experiment.experiment_runs`. Reads that section, ``seeds``, ``diversity``
(``eps: auto`` is 1/m, the ICLR advice) and ``finetune`` (the shared settings; ``select: most-diverse``
keeps the epoch of highest DRO@k of the monitored users, as the paper). Each seed's runs start from the
model pretrained with that seed. The runs are spread over ``grid.devices`` (``auto``: every visible
GPU, one worker each, else ``grid.cpu_workers`` CPU workers), or with ``grid.backend: ray`` over a
Ray cluster, one task per run (:mod:`divlib.train.ray_grid`); each run derives its own seed, so the
results do not depend on the spread. Writes one folder per run under ``models/DATASET/MODEL/EXPERIMENT/``
(selected.pt, final.pt, steps.parquet, epochs.parquet, run.json) and
``metrics/DATASET/MODEL/EXPERIMENT.json`` (per run: DRO@k before and after, the selected epoch and its
validation MSE). The runs' devices and wall times (per run and per step) go to
``times/DATASET/MODEL/EXPERIMENT.json``, outside git and DVC's outputs
(:func:`divlib.study.experiment.run_experiment`).
"""

import argparse

from divlib.study.cli import dataset_argument, load_params, main_guard
from divlib.study.experiment import run_experiment
from divlib.study.params import EXPERIMENTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", choices=EXPERIMENTS)
    dataset_argument(parser)
    parser.add_argument("model")
    args = parser.parse_args()
    run_experiment(load_params(), args.experiment, dataset=args.dataset, model=args.model)


if __name__ == "__main__":
    main_guard(main)
