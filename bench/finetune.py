"""Time per training step on an ML-1M-sized synthetic problem: relevance only, DDT, adaptive DDT, MDR.

    python bench/finetune.py [--users 6040] [--items 3706] [--ratings 1000000] [--batch 80960]
                             [--users-per-step all] [--model nmf] [--device cpu]

NMF (dim 10) pretrained for 5 epochs (fine-tuning starts from a relevance model: its score spread is
what ε = 1/m suits), k = 10, ε = 1/m, the paper's fine-tuning batch of 80,960 ratings; L_DDRO over all
users per step unless --users-per-step is given. Prints seconds per step (one epoch, after a warm-up
epoch) and the ratio to the relevance-only step.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=6040)
    parser.add_argument("--items", type=int, default=3706)
    parser.add_argument("--ratings", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=80_960)
    parser.add_argument("--users-per-step", default="all")
    parser.add_argument("--model", default="nmf")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    raw = synthetic_ratings(users=args.users, items=args.items, ratings=args.ratings, seed=1)
    ratings, items = canonicalize(raw, source="synthetic")
    train, val, _, _ = split_ratings(ratings, test_fraction=0.2, val_fraction=0.2, seed=1)
    sizes = {"n_users": args.users, "n_items": args.items}
    train, val = Interactions.from_frame(train, **sizes), Interactions.from_frame(val, **sizes)
    distance = GroupedDistance.from_categories(category_matrix(items)[0])
    users_per_step = None if args.users_per_step == "all" else int(args.users_per_step)
    diversity = DiversityOptions(k=10, eps=1 / args.items)
    print(
        f"{args.users} users x {args.items} items, {len(train):,} training ratings, batch "
        f"{args.batch}, users per step {args.users_per_step}, {args.model}, {args.device}, "
        f"threads {torch.get_num_threads()}"
    )

    def relevance(model):
        options = PretrainOptions(epochs=1, lr=0.01, batch_size=args.batch, seed=0)
        return pretrain(model, train, val, options=options, device=args.device)

    def joint(method):
        def run(model):
            options = FinetuneOptions(
                method=method,
                beta=0.5,
                epochs=1,
                lr=0.01,
                batch_size=args.batch,
                users_per_step=users_per_step,
            )
            return finetune(
                model,
                train,
                val,
                distance=distance,
                diversity=diversity,
                options=options,
                device=args.device,
            )

        return run

    variants = {
        "relevance only": relevance,
        "DDT": joint("ddt"),
        "DDT adaptive": joint("ddt-adaptive"),
        "MDR": joint("mdr"),
    }
    base = build_model(args.model, **sizes, dim=10, seed=0)
    options = PretrainOptions(epochs=5, lr=0.01, batch_size=8192, seed=0)
    state = pretrain(base, train, val, options=options, device=args.device).selected_state
    baseline = None
    for name, run in variants.items():
        model = build_model(args.model, **sizes, dim=10, seed=0)
        model.load_state_dict(state)
        run(model)  # warm-up
        start = time.perf_counter()
        result = run(model)
        per_step = (time.perf_counter() - start) / len(result.steps)
        baseline = baseline or per_step
        print(f"{name:15s} {per_step:8.3f} s/step  x{per_step / baseline:6.1f}")


if __name__ == "__main__":
    main()
