"""Re-rank one pretrained model's candidates with MMR, DUM and DPP over their trade-off grids.

    python stages/rerank.py DATASET MODEL

Reads ``rerank`` (pool size, MMR λ and DPP θ grids) and ``evaluate.ks`` from params.yaml. Each user's
candidates are the model's top ``pool`` items not rated in training or validation; each re-ranker
selects 2·max(ks) of them (greedy selections are prefix-consistent, so every k reads a prefix); see
:func:`divlib.rerank.rerank_all`. Writes ``data/rerank/DATASET/MODEL/lists.parquet`` (method, param,
user, rank, item).
"""

import argparse
import logging
import time

from common import LAYOUT, load_params, main_guard

from divlib.io import atomic_path
from divlib.layout import load_evaluation
from divlib.models import load_model
from divlib.rerank import lists_frame, rerank_all

DEVICE = "cpu"  # the published lists were computed on the CPU


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("model")
    args = parser.parse_args()
    params = load_params()
    data, never = load_evaluation(LAYOUT, args.dataset)
    model, _ = load_model(LAYOUT.base(args.dataset, args.model))
    start = time.perf_counter()
    lists = rerank_all(
        model, never, data.distance, data.categories, pool=params.rerank.pool,
        length=2 * max(params.evaluate.ks), mmr_lambdas=params.rerank.mmr_lambdas,
        dpp_thetas=params.rerank.dpp_thetas, device=DEVICE,
    )  # fmt: skip
    with atomic_path(LAYOUT.rerank(args.dataset, args.model)) as temporary:
        lists_frame(lists).write_parquet(temporary)
    logging.info("%s/%s: %d re-rankings in %.1f s", args.dataset, args.model, len(lists),
                 time.perf_counter() - start)  # fmt: skip


if __name__ == "__main__":
    main_guard(main)
