"""One fine-tuning run too big for one device, data parallel over the processes torchrun starts.

    torchrun --nproc-per-node N stages/finetune_distributed.py EXPERIMENT DATASET MODEL NAME

gloo on CPU, NCCL when CUDA is visible (process i uses cuda:i). Every rank draws the same global batches
and takes its share; the result equals one process on the same global batch (tests/test_ddp.py). The run
is the run NAME of the finetune stage of EXPERIMENT (e.g. ``main_table nmf ddt-beta0.2-seed1``: same
settings and seed, from :func:`divlib.study.experiment.experiment_runs`); rank 0 writes ``data/distributed/DATASET/MODEL/NAME/`` (as a finetune run's folder, with the world size in
run.json), outside every DVC stage's inputs, and its device and wall times to
``times/DATASET/MODEL/distributed-NAME.json``.
"""

import argparse
import logging
import os

import torch
import torch.distributed as dist
from common import LAYOUT, learning_rate_named, load_params, main_guard, record_run_times

from divlib.errors import DivlibError
from divlib.io import atomic_path
from divlib.study.experiment import describe_run, experiment_runs, run_times, save_run, train_run
from divlib.study.params import EXPERIMENTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", choices=EXPERIMENTS)
    for name in ("dataset", "model", "name"):
        parser.add_argument(name)
    args = parser.parse_args()
    params = load_params()
    specs = experiment_runs(params, args.experiment, dataset=args.dataset, model=args.model)
    spec = next((spec for spec in specs if spec.name == args.name), None)
    if spec is None:
        names = ", ".join(spec.name for spec in specs) or "none for this model"
        raise DivlibError(f"{args.experiment} has no run {args.name!r}; its runs: {names}")
    cuda = torch.cuda.is_available()
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    dist.init_process_group("nccl" if cuda else "gloo")
    if dist.get_rank() > 0:  # rank 0 logs the run's epochs for all
        logging.getLogger().setLevel(logging.WARNING)
    try:
        with learning_rate_named("finetune.lr", params.finetune.lr):
            outcome = train_run(spec, device)
        if dist.get_rank() == 0:
            world = {"world_size": dist.get_world_size()}
            with atomic_path(LAYOUT.distributed(args.dataset, args.model, spec.name)) as out:
                save_run(out, spec, outcome, extra=world)
            times = LAYOUT.times(args.dataset, args.model, f"distributed-{spec.name}")
            record_run_times(run_times([spec], [outcome]), times)
            print(f"{describe_run(spec, outcome)}, {world['world_size']} processes")
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main_guard(main)
