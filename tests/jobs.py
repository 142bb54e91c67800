"""Picklable jobs for the process tests: a short seeded run on a small synthetic problem, alone or as
one rank of a torch.distributed group."""

from pathlib import Path

import torch
import torch.distributed as dist

from divlib import GroupedDistance
from divlib.models import build_model
from divlib.study.data import canonicalize, category_matrix, split_ratings, synthetic_ratings
from divlib.train import DiversityOptions, FinetuneOptions, Interactions, finetune


def seeded_run(job: tuple, device: torch.device) -> dict:
    method, beta, seed, *rest = job  # rest: users per step, when given
    raw = synthetic_ratings(users=60, items=90, ratings=1500, categories=6, seed=1)
    ratings, items = canonicalize(raw, source="synthetic")
    train, val, _, _ = split_ratings(ratings, test_fraction=0.2, val_fraction=0.2, seed=1)
    train, val = (Interactions.from_frame(t, n_users=60, n_items=90) for t in (train, val))
    distance = GroupedDistance.from_categories(category_matrix(items)[0])
    model = build_model("nmf", n_users=60, n_items=90, dim=4, seed=seed)
    options = FinetuneOptions(
        method=method,
        beta=beta,
        epochs=1,
        lr=0.01,
        batch_size=256,
        seed=seed,
        users_per_step=rest[0] if rest else None,
    )
    result = finetune(
        model,
        train,
        val,
        distance=distance,
        options=options,
        diversity=DiversityOptions(k=5, eps=1 / 90),
        device=device,
    )
    return {"epochs": result.epochs, "steps": result.steps, "state": result.final_state}


def distributed_rank(rank: int, world: int, rendezvous: str, job: tuple, out: str) -> None:
    """One rank of a gloo group running ``seeded_run``; rank 0 saves the result to ``out``."""
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world)
    torch.set_num_threads(1)
    try:
        result = seeded_run(job, torch.device("cpu"))
        if rank == 0:
            torch.save({"state": result["state"], "steps": result["steps"]}, Path(out))
    finally:
        dist.destroy_process_group()
