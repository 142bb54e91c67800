"""One fine-tuning run too big for one device, data parallel over the processes torchrun starts.

    torchrun --nproc-per-node N stages/finetune_distributed.py DATASET MODEL METHOD BETA SEED

gloo on CPU, NCCL when CUDA is visible (process i uses cuda:i). Every rank draws the same global batches
and takes its share; the result equals one process on the same global batch (tests/test_ddp.py). The run
is the finetune stage's run of that method, β and seed (same name, settings and seed, from
:func:`divlib.experiment.finetune_run`; BETA is ignored by ddt-adaptive, which sets β itself); rank 0
writes ``data/distributed/DATASET/MODEL/NAME/`` (as a finetune run's folder, with the world size in
run.json), outside every DVC stage's inputs.
"""

import argparse
import os

import torch
import torch.distributed as dist
from common import LAYOUT, load_params, main_guard

from divlib.experiment import finetune_run, save_run, train_run
from divlib.io import atomic_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("dataset", "model", "method"):
        parser.add_argument(name)
    parser.add_argument("beta", type=float)
    parser.add_argument("seed", type=int)
    args = parser.parse_args()
    params = load_params()
    spec = finetune_run(
        params.finetune, params.diversity, dataset=args.dataset, model=args.model,
        method=args.method, beta=None if args.method == "ddt-adaptive" else args.beta,
        seed=args.seed,
    )  # fmt: skip
    cuda = torch.cuda.is_available()
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        outcome = train_run(spec, device)
        if dist.get_rank() == 0:
            world = {"world_size": dist.get_world_size()}
            with atomic_path(LAYOUT.distributed(args.dataset, args.model, spec.name)) as out:
                save_run(out, spec, outcome, extra=world)
            print(f"{spec.name} on {world['world_size']} processes: {outcome.record}")
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main_guard(main)
