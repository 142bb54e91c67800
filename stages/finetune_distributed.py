"""One fine-tuning run too big for one device, data parallel over the processes torchrun starts.

    torchrun --nproc-per-node N stages/finetune_distributed.py EXPERIMENT DATASET MODEL NAME

gloo on CPU, NCCL when CUDA is visible (process i uses cuda:i). Every rank draws the same global batches
and takes its share; the result equals one process on the same global batch (tests/test_ddp.py). The run
is the run NAME of the finetune stage of EXPERIMENT (e.g. ``main_table nmf ddt-beta0.2-seed1``: same
settings and seed, from :func:`divlib.study.experiment.experiment_runs`); rank 0 writes
``data/distributed/DATASET/MODEL/NAME/`` (as a finetune run's folder, with the world size in run.json),
outside every DVC stage's inputs, and its device and wall times to
``times/DATASET/MODEL/distributed-NAME.json`` (:func:`divlib.study.experiment.run_distributed`).
"""

import argparse

from divlib.study.cli import dataset_argument, load_params, main_guard
from divlib.study.experiment import run_distributed
from divlib.study.params import EXPERIMENTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", choices=EXPERIMENTS)
    dataset_argument(parser)
    parser.add_argument("model")
    parser.add_argument("name")
    args = parser.parse_args()
    run_distributed(
        load_params(), args.experiment, dataset=args.dataset, model=args.model, name=args.name
    )


if __name__ == "__main__":
    main_guard(main)
