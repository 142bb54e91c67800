"""Re-rank one pretrained model's candidates with MMR, DUM and DPP over their trade-off grids.

    python stages/rerank.py DATASET MODEL

Reads ``rerank`` (pool size, MMR λ and DPP θ grids) and ``evaluate.ks`` from params.yaml. Each user's
candidates are the model's top ``pool`` items not rated in training or validation; each re-ranker
selects 2·max(ks) of them (greedy selections are prefix-consistent, so every k reads a prefix). Writes
``data/rerank/DATASET/MODEL/lists.parquet`` (method, param, user, rank, item).
"""

import argparse
import logging
import time
from pathlib import Path

import polars as pl
import torch
from common import load_evaluation, long_lists, main_guard, read_params

from divlib.io import atomic_path
from divlib.models import load_model
from divlib.rerank import candidate_pool, dpp, dum, mmr

USERS_PER_BATCH = 1024  # bounds the (B, N, N) similarity blocks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("model")
    args = parser.parse_args()
    params = read_params("rerank")
    length = 2 * max(read_params("evaluate", "ks"))
    data, never = load_evaluation(args.dataset)
    model, _ = load_model(Path("models") / args.dataset / args.model / "base.pt")
    runs = [("dum", None, lambda r, s, c: dum(r, c, length))]
    runs += [
        ("mmr", lam, lambda r, s, c, lam=lam: mmr(r, s, length, lam))
        for lam in params["mmr_lambdas"]
    ]
    runs += [
        ("dpp", theta, lambda r, s, c, t=theta: dpp(r, s, length, theta=t))
        for theta in params["dpp_thetas"]
    ]
    start = time.perf_counter()
    selected = {(method, param): [] for method, param, _ in runs}
    with torch.no_grad():
        for users in torch.arange(data.positives.shape[0]).split(USERS_PER_BATCH):
            relevance, items = candidate_pool(model.score_all(users), never[users], params["pool"])
            similarity = 1 - data.distance.block(items)
            categories = data.categories[items] > 0
            for method, param, select in runs:
                positions = select(relevance, similarity, categories)
                selected[method, param].append(items.gather(1, positions))
    frames = [_long(method, param, torch.cat(parts)) for (method, param), parts in selected.items()]
    out = Path("data/rerank") / args.dataset / args.model / "lists.parquet"
    with atomic_path(out) as temporary:
        pl.concat(frames).write_parquet(temporary)
    logging.info("%s/%s: %d re-rankings in %.1f s", args.dataset, args.model, len(runs),
                 time.perf_counter() - start)  # fmt: skip


def _long(method: str, param: float | None, lists: torch.Tensor) -> pl.DataFrame:
    """``(n_users, K)`` lists as rows (method, param, user, rank, item), rank 1 = first selected."""
    return long_lists(lists).select(
        pl.lit(method).alias("method"), pl.lit(param, dtype=pl.Float64).alias("param"), pl.all()
    )


if __name__ == "__main__":
    main_guard(main)
