"""Fine-tune one pretrained model for diversity: the grid method × β × seed of params.yaml.

    python stages/finetune.py DATASET MODEL

Reads ``diversity`` and ``finetune`` (``diversity.eps: auto`` is 1/m, the ICLR advice). Fine-tunes the
pretrained model with each method of ``finetune.methods``, and trains the methods of
``finetune.scratch.methods`` at ``scratch.beta`` from a fresh initialisation, with the settings of
``finetune.scratch`` overriding the rest (runs ``METHOD-scratch-…``); see
:func:`divlib.experiment.finetune_runs`. The runs are spread over ``finetune.devices`` (``auto``: every
visible GPU, one worker each, else ``finetune.cpu_workers`` CPU workers); each run derives its own seed,
so the results do not depend on the spread. Writes one folder per run under
``models/DATASET/MODEL/runs/`` (selected.pt, final.pt, steps.parquet, epochs.parquet, run.json) and
``metrics/DATASET/MODEL/finetune.json`` (per run: DRO@k before and after, validation MSE).
"""

import argparse
import logging

from common import LAYOUT, load_params, main_guard

from divlib.experiment import finetune_runs, save_runs, train_run
from divlib.io import write_json
from divlib.train.grid import placement, run_grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("model")
    args = parser.parse_args()
    params = load_params()
    specs = finetune_runs(params.finetune, params.diversity, dataset=args.dataset, model=args.model)
    devices = placement(params.finetune.devices, params.finetune.cpu_workers)
    logging.info("%d runs on %s", len(specs), ", ".join(map(str, devices)))
    outcomes = run_grid(train_run, specs, devices)
    summary = save_runs(LAYOUT.runs(args.dataset, args.model), specs, outcomes)
    write_json(summary, LAYOUT.metrics(args.dataset, "finetune", args.model))


if __name__ == "__main__":
    main_guard(main)
