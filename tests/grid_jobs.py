"""A picklable job for the grid tests: a short seeded DDT run on a small synthetic problem."""

import torch

from divlib import GroupedDistance
from divlib.data import canonicalize, category_matrix, split_ratings, synthetic_ratings
from divlib.models import build_model
from divlib.train import DiversityOptions, FinetuneOptions, Interactions, finetune


def seeded_run(job: tuple[str, float, int], device: torch.device) -> dict:
    method, beta, seed = job
    raw = synthetic_ratings(users=60, items=90, ratings=1500, categories=6, seed=1)
    ratings, items = canonicalize(raw, source="synthetic")
    train, val, _, _ = split_ratings(ratings, test_fraction=0.2, val_fraction=0.2, seed=1)
    train, val = (Interactions.from_frame(t, n_users=60, n_items=90) for t in (train, val))
    distance = GroupedDistance.from_categories(category_matrix(items)[0])
    model = build_model("nmf", n_users=60, n_items=90, dim=4, seed=seed)
    options = FinetuneOptions(
        method=method, beta=beta, epochs=1, lr=0.01, batch_size=256, seed=seed
    )
    result = finetune(model, train, val, distance=distance, options=options,
                      diversity=DiversityOptions(k=5, eps=1 / 90), device=device)  # fmt: skip
    return {"epochs": result.epochs, "state": result.final_state}
