"""Pretrain one relevance model on one dataset per seed (MSE, AdamW), to convergence on validation MSE.

    python stages/pretrain.py DATASET MODEL

Reads ``pretrain`` and ``seeds`` from params.yaml (see :func:`divlib.study.experiment.pretrain_run`: early
stopping after ``pretrain.patience`` epochs without a lower validation MSE, at most ``max_epochs``); the
seeds run on ``grid.devices``. The data split is the same for every seed (``data.seed``). Writes
``models/DATASET/MODEL/base/seedS.pt`` (load with ``divlib.models.load_model``), ``epochs.parquet``
(per-epoch losses, every seed) and ``metrics/DATASET/pretrain/MODEL.json`` (per seed: the epoch chosen
and its validation MSE).
"""

import argparse
import logging
import time
from functools import partial

import polars as pl
from common import LAYOUT, learning_rate_named, load_params, main_guard

from divlib.io import atomic_path, write_json
from divlib.models import save_model
from divlib.study.experiment import describe_pretraining, pretrain_run
from divlib.train.grid import placement, run_grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("model")
    args = parser.parse_args()
    params = load_params()
    start = time.perf_counter()
    train = partial(pretrain_run, section=params.pretrain, dataset=args.dataset, model=args.model)
    devices = placement(params.grid.devices, params.grid.cpu_workers)
    with learning_rate_named("pretrain.lr", params.pretrain.lr):
        outcomes = run_grid(train, params.seeds, devices, describe=describe_pretraining)
    summary, epochs = {}, []
    with atomic_path(LAYOUT.bases(args.dataset, args.model)) as folder:
        for seed, (model, result, config) in zip(params.seeds, outcomes, strict=True):
            save_model(folder / f"seed{seed}.pt", model, name=args.model, config=config)
            epochs.append(pl.DataFrame(result.epochs).select(pl.lit(seed).alias("seed"), pl.all()))
            best = result.epochs[result.selected_epoch - 1]
            summary[f"seed{seed}"] = {"val_mse": round(best["val_mse"], 6),
                                      "selected_epoch": result.selected_epoch,
                                      "epochs_run": len(result.epochs)}  # fmt: skip
        pl.concat(epochs).write_parquet(folder / "epochs.parquet")
    write_json(summary, LAYOUT.pretraining(args.dataset, args.model))
    logging.info("%s/%s: %d models in %.1f s", args.dataset, args.model, len(summary),
                 time.perf_counter() - start)  # fmt: skip


if __name__ == "__main__":
    main_guard(main)
