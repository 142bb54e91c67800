"""Seconds per fine-tuning epoch on an ml-100k-sized synthetic problem: NMF and NCF × DDT, DDT adaptive, MDR.

    python bench/epoch.py [--models nmf ncf] [--methods ddt ddt-adaptive mdr] [--threads 1]

943 users × 1682 items, 100,000 ratings split 64/16/20, dim 10, each model pretrained for 5 epochs
(fine-tuning starts from a relevance model); k = 10, ε = 1/m, batch 8192 (8 steps per epoch), L_DDRO over
all users per step, β = 0.5. Each variant runs one warm-up epoch, then one timed epoch (its per-epoch
summary included); printed: wall-clock seconds, and the process's CPU seconds (steadier on a shared
machine).
"""

import argparse
import time

import torch

from divlib import GroupedDistance
from divlib.models import build_model
from divlib.study.data import canonicalize, category_matrix, split_ratings, synthetic_ratings
from divlib.train import (
    DiversityOptions,
    FinetuneOptions,
    Interactions,
    PretrainOptions,
    finetune,
    pretrain,
)

USERS, ITEMS, RATINGS, BATCH, DIM = 943, 1682, 100_000, 8192, 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["nmf", "ncf"])
    parser.add_argument("--methods", nargs="+", default=["ddt", "ddt-adaptive", "mdr"])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    raw = synthetic_ratings(users=USERS, items=ITEMS, ratings=RATINGS, seed=1)
    ratings, items = canonicalize(raw, source="synthetic")
    train, val, _, _ = split_ratings(ratings, test_fraction=0.2, val_fraction=0.2, seed=1)
    sizes = {"n_users": USERS, "n_items": ITEMS}
    train, val = Interactions.from_frame(train, **sizes), Interactions.from_frame(val, **sizes)
    distance = GroupedDistance.from_categories(category_matrix(items)[0])
    diversity = DiversityOptions(k=10, eps=1 / ITEMS)
    print(
        f"{USERS} users x {ITEMS} items, {len(train):,} training ratings, batch {BATCH}, "
        f"threads {torch.get_num_threads()}"
    )
    for name in args.models:
        base = build_model(name, **sizes, dim=DIM, seed=0, mean=float(train.ratings.mean()))
        options = PretrainOptions(epochs=5, lr=0.01, batch_size=1024, seed=0)
        state = pretrain(base, train, val, options=options, device="cpu").selected_state
        for method in args.methods:
            model = build_model(name, **sizes, dim=DIM, seed=0)
            model.load_state_dict(state)
            options = FinetuneOptions(method=method, beta=0.5, epochs=1, lr=0.01, batch_size=BATCH)
            for _ in range(2):  # a warm-up epoch, then the timed one
                wall, cpu = time.perf_counter(), time.process_time()
                finetune(
                    model,
                    train,
                    val,
                    distance=distance,
                    diversity=diversity,
                    options=options,
                    device="cpu",
                )
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(f"{name:4s} {method:13s} {wall:7.3f} s/epoch  (CPU {cpu:7.3f} s)", flush=True)


if __name__ == "__main__":
    main()
