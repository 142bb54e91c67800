"""Re-rank each seed's pretrained model with MMR, DUM and DPP: their trade-off grids and the paper's
parametrisation.

    python stages/rerank.py DATASET MODEL

Reads ``rerank`` (pool size, MMR λ and DPP θ grids), ``seeds`` and ``evaluate.ks`` from params.yaml.
The trade-off grids take each user's candidates from the model's top ``pool`` items not rated in
training or validation, with min-max scaled relevance; the paper's rows (``mmr-paper``, ``dpp-paper``)
follow its baseline code (every unseen item, predicted ratings clipped to [1, 5]). Each re-ranker
selects 2·max(ks) items (greedy selections are prefix-consistent, so every k reads a prefix); see
:func:`divlib.rerank.rerank_all`. Writes ``data/rerank/DATASET/MODEL/lists.parquet`` (seed, method,
param, user, rank, item).
"""

import argparse
import logging
import time

import polars as pl
from common import LAYOUT, load_params, main_guard

from divlib.io import atomic_path
from divlib.models import load_model
from divlib.rerank import rerank_all
from divlib.study.evaluation import lists_frame, load_evaluation

DEVICE = "cpu"  # the published lists were computed on the CPU


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("model")
    args = parser.parse_args()
    params = load_params()
    data, never = load_evaluation(LAYOUT, args.dataset)
    start = time.perf_counter()
    frames = []
    for seed in params.seeds:
        model, _ = load_model(LAYOUT.base(args.dataset, args.model, seed))
        lists = rerank_all(
            model, never, data.distance, data.categories, pool=params.rerank.pool,
            length=2 * max(params.evaluate.ks), mmr_lambdas=params.rerank.mmr_lambdas,
            dpp_thetas=params.rerank.dpp_thetas, device=DEVICE,
        )  # fmt: skip
        frames.append(lists_frame(lists).select(pl.lit(seed).alias("seed"), pl.all()))
    with atomic_path(LAYOUT.rerank(args.dataset, args.model)) as temporary:
        pl.concat(frames).write_parquet(temporary)
    logging.info("%s/%s: %d seeds re-ranked in %.1f s", args.dataset, args.model, len(frames),
                 time.perf_counter() - start)  # fmt: skip


if __name__ == "__main__":
    main_guard(main)
