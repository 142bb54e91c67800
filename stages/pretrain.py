"""Pretrain one relevance model on one dataset per seed (MSE, AdamW), to convergence on validation MSE.

    python stages/pretrain.py DATASET MODEL

Reads ``pretrain`` and ``seeds`` from params.yaml (see :func:`divlib.study.experiment.pretrain_run`: early
stopping after ``pretrain.patience`` epochs without a lower validation MSE, at most ``max_epochs``); the
seeds run on ``grid.devices``. The data split is the same for every seed (``data.seed``). Writes
``models/DATASET/MODEL/base/seedS.pt`` (load with ``divlib.models.load_model``), ``epochs.parquet``
(per-epoch losses, every seed) and ``metrics/DATASET/pretrain/MODEL.json`` (per seed: the epoch chosen
and its validation MSE); see :func:`divlib.study.experiment.pretrain_models`.
"""

import argparse

from divlib.study.cli import dataset_argument, load_params, main_guard
from divlib.study.experiment import pretrain_models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    dataset_argument(parser)
    parser.add_argument("model")
    args = parser.parse_args()
    params = load_params()
    pretrain_models(
        params.pretrain, params.seeds, params.grid, dataset=args.dataset, model=args.model
    )


if __name__ == "__main__":
    main_guard(main)
