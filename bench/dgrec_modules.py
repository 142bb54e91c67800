"""DGRec's modules ablated on a prepared dataset: all on, each off alone, all off.

    cd <workspace> && python bench/dgrec_modules.py [--dataset ml-100k] [--seeds 1 2 3] [--k 10]
                                                    [--params params.yaml]

Reads the ``dgrec`` section of ``--params`` (a workspace built before DGRec existed: pass the
repository's), the prepared splits, the items' categories and the study's item
distance from the working directory (the study :class:`~divlib.study.layout.Layout`); writes nothing.
Each variant trains one DGRec per seed as the ``dgrec`` stage does (same derived seed, CPU, early
stopping on the validation pairs) with the switches of :class:`~divlib.dgrec.DGRecOptions` changed,
then ranks every item outside the user's training and validation items. Prints a Markdown table, per
variant the mean (std over seeds) of: DRO@k and category coverage@k (per list, mean over users), item
coverage@k, Gini@k and entropy@k (nats) of all users' lists together, precision@k and NDCG@k on the
test ratings >= 4, the training seconds.
"""

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

import torch

from divlib.dgrec import DGRecOptions, train_dgrec
from divlib.metrics import (
    aggregate_diversity,
    category_coverage,
    list_diversity,
    precision_recall_ndcg,
)
from divlib.ranking import topk_items
from divlib.study.cli import PARAMS, load_params
from divlib.study.evaluation import load_evaluation
from divlib.study.experiment import derive_seed
from divlib.study.layout import HERE as LAYOUT
from divlib.study.layout import load_splits

MODULES = ("selection", "attention", "balance")
VARIANTS = {
    "all on": {},
    **{f"{module} off": {module: False} for module in MODULES},
    "all off": dict.fromkeys(MODULES, False),
}
COLUMNS = ("dro", "coverage", "item_coverage", "gini", "entropy", "precision", "ndcg", "seconds")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--params", type=Path, default=PARAMS)
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the stage's runs, one after the other on one core
    section = load_params(args.params).dgrec
    train, val = load_splits(LAYOUT, args.dataset, "train", "val")
    data, exclude = load_evaluation(LAYOUT, args.dataset)
    print(f"{args.dataset}: {len(train):,} training pairs, seeds {args.seeds}, k = {args.k}\n")
    rows = {}
    for variant, switches in VARIANTS.items():
        options = dataclasses.replace(DGRecOptions(**section.model_dump()), **switches)
        per_seed = [
            evaluate(options, seed, args, train=train, val=val, data=data, exclude=exclude)
            for seed in args.seeds
        ]
        rows[variant] = {c: [values[c] for values in per_seed] for c in COLUMNS}
        print(f"{variant}: " + ", ".join(f"{c} {cell(rows[variant][c])}" for c in COLUMNS))
    print(table(rows, args.k))


def evaluate(options: DGRecOptions, seed: int, args, *, train, val, data, exclude) -> dict:
    """One DGRec of ``options`` trained with the stage's seed for ``seed``, and its metrics."""
    start = time.perf_counter()
    model, _ = train_dgrec(
        train,
        data.categories,
        options,
        seed=derive_seed(seed, args.dataset, "dgrec"),
        device="cpu",
        validation=val,
    )
    seconds = time.perf_counter() - start
    with torch.no_grad():
        scores = model.score_all(torch.arange(train.n_users))
    lists = topk_items(scores, k=args.k, exclude=exclude)
    found = precision_recall_ndcg(lists, data.positives)
    aggregate = aggregate_diversity(lists, n_items=train.n_items, ks=[args.k])[args.k]
    return {
        "dro": float(list_diversity(lists, data.distance).mean()),
        "coverage": float(category_coverage(lists, data.categories).mean()),
        **aggregate,
        "precision": float(found["precision"].nanmean()),
        "ndcg": float(found["ndcg"].nanmean()),
        "seconds": seconds,
    }


def cell(values: list[float]) -> str:
    """``mean (std)`` over seeds; the std is 0 for one seed."""
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ({spread:.3f})"


def table(rows: dict[str, dict[str, list[float]]], k: int) -> str:
    """The Markdown table of :func:`main`."""
    names = (
        f"DRO@{k}",
        f"category coverage@{k}",
        f"item coverage@{k}",
        f"Gini@{k}",
        f"entropy@{k}",
        f"precision@{k}",
        f"NDCG@{k}",
        "train s",
    )
    lines = [
        "| variant | " + " | ".join(names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    for variant, values in rows.items():
        lines.append(f"| {variant} | " + " | ".join(cell(values[c]) for c in COLUMNS) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
