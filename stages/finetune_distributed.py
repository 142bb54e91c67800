"""One fine-tuning run too big for one device, data parallel over the processes torchrun starts.

    torchrun --nproc-per-node N stages/finetune_distributed.py DATASET MODEL METHOD BETA SEED

gloo on CPU, NCCL when CUDA is visible (process i uses cuda:i). Every rank draws the same global batches
and takes its share; the result equals one process on the same global batch (tests/test_ddp.py). Reads
``diversity`` and ``finetune`` from params.yaml like the finetune stage; rank 0 writes
``data/distributed/DATASET/MODEL/METHOD-betaBETA-seedSEED/`` (selected.pt, steps.parquet,
epochs.parquet, run.json), outside every DVC stage's inputs.
"""

import argparse
import os
from pathlib import Path

import torch
import torch.distributed as dist
from common import derive_seed, main_guard, read_params
from finetune import run_one, run_settings

from divlib.io import atomic_path, write_json
from divlib.models import load_model, save_model
from divlib.train import FinetuneOptions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("dataset", "model", "method"):
        parser.add_argument(name)
    parser.add_argument("beta", type=float)
    parser.add_argument("seed", type=int)
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        settings = run_settings(read_params("finetune"))
        name = f"{args.method}-beta{args.beta}-seed{args.seed}"  # as the finetune stage names it
        seed = derive_seed(args.seed, args.dataset, args.model, name)
        options = FinetuneOptions(method=args.method, beta=args.beta, seed=seed, **settings)
        identity = {"method": args.method, "param": args.beta, "seed": args.seed}
        job = (args.dataset, args.model, name, options, dict(read_params("diversity")), identity)
        result, config, record = run_one(job, device)
        if dist.get_rank() == 0:
            base = Path("models") / args.dataset / args.model
            model, _ = load_model(base / "base.pt")
            model.load_state_dict(result.selected_state)
            with atomic_path(Path("data/distributed") / args.dataset / args.model / name) as out:
                out.mkdir()
                save_model(out / "selected.pt", model, name=args.model, config=config)
                result.steps.write_parquet(out / "steps.parquet")
                result.epochs.write_parquet(out / "epochs.parquet")
                run = identity | record | {"world_size": dist.get_world_size()}
                write_json(run, out / "run.json")
            print(f"{name} on {dist.get_world_size()} processes: {record}")
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main_guard(main)
