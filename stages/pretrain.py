"""Pretrain one relevance model on one dataset (MSE, AdamW), selecting the epoch on the validation split.

    python stages/pretrain.py DATASET MODEL

Reads ``pretrain`` from params.yaml (see :func:`divlib.experiment.pretrain_run`). Writes
``models/DATASET/MODEL/base.pt`` (load it with ``divlib.models.load_model``), ``base_epochs.parquet``
(per-epoch losses) and the small metrics file ``metrics/DATASET/MODEL/pretrain.json``.
"""

import argparse
import logging
import time

from common import LAYOUT, load_params, main_guard

from divlib.experiment import pretrain_run
from divlib.io import atomic_path, write_json
from divlib.models import save_model
from divlib.train.grid import resolve_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("model")
    args = parser.parse_args()
    params = load_params().pretrain
    start = time.perf_counter()
    model, result, config = pretrain_run(
        params, dataset=args.dataset, model=args.model, device=resolve_device(params.device)
    )
    save_model(LAYOUT.base(args.dataset, args.model), model, name=args.model, config=config)
    with atomic_path(LAYOUT.base_epochs(args.dataset, args.model)) as temporary:
        result.epochs.write_parquet(temporary)
    best = result.epochs.row(result.selected_epoch - 1, named=True)
    summary = {"val_mse": round(best["val_mse"], 6), "selected_epoch": result.selected_epoch}
    write_json(summary, LAYOUT.metrics(args.dataset, "pretrain", args.model))
    logging.info(
        "%s/%s: %s in %.1f s", args.dataset, args.model, summary, time.perf_counter() - start
    )


if __name__ == "__main__":
    main_guard(main)
