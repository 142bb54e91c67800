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
``times/DATASET/MODEL/EXPERIMENT.json``, outside git and DVC's outputs.
"""

import argparse
import logging
import time
from collections.abc import Callable
from functools import partial

from common import LAYOUT, learning_rate_named, load_params, main_guard, record_run_times

from divlib.errors import DivlibError
from divlib.io import write_json
from divlib.study.experiment import describe_run, experiment_runs, run_times, save_runs, train_run
from divlib.study.layout import Layout
from divlib.study.params import EXPERIMENTS, Params
from divlib.train.grid import placement, run_grid
from divlib.train.ray_grid import ray_address, run_grid_on_ray


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", choices=EXPERIMENTS)
    parser.add_argument("dataset")
    parser.add_argument("model")
    args = parser.parse_args()
    params = load_params()
    start = time.perf_counter()
    specs = experiment_runs(params, args.experiment, dataset=args.dataset, model=args.model)
    if not specs:
        raise DivlibError(
            f"{args.experiment}.models does not list {args.model}; add it there to fine-tune it"
        )
    grid, where = grid_backend(params)
    logging.info("%s: %d runs on %s", args.experiment, len(specs), where)
    # each run reads its inputs at this absolute path (on a Ray cluster: a shared file system)
    run = partial(train_run, layout=Layout(LAYOUT.root.resolve()))
    with learning_rate_named("finetune.lr", params.finetune.lr):
        outcomes = grid(run, specs, describe=describe_run)
    summary = save_runs(LAYOUT.runs(args.dataset, args.model, args.experiment), specs, outcomes)
    write_json(summary, LAYOUT.metrics(args.dataset, args.experiment, args.model))
    record_run_times(
        run_times(specs, outcomes), LAYOUT.times(args.dataset, args.model, args.experiment)
    )
    logging.info("%s/%s/%s: %d runs in %.1f s", args.dataset, args.model, args.experiment,
                 len(specs), time.perf_counter() - start)  # fmt: skip


def grid_backend(params: Params) -> tuple[Callable, str]:
    """The grid function of ``grid.backend`` (run_grid's arguments less the devices), and where it
    runs, for the log."""
    if params.grid.backend == "ray":
        address = ray_address(params.grid.address)
        return partial(run_grid_on_ray, address=address), (
            f"Ray at {address}" if address else "a local Ray instance"
        )
    devices = placement(params.grid.devices, params.grid.cpu_workers)
    return partial(run_grid, devices=devices), ", ".join(map(str, devices))


if __name__ == "__main__":
    main_guard(main)
