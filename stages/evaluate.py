"""Evaluate one dataset × model: the relevance-only model, every fine-tuned run and every re-ranking.

    python stages/evaluate.py DATASET MODEL

Reads ``evaluate.ks`` and ``diversity.k`` from params.yaml. Lists are ranked over the items a user did
not rate in training or validation (:func:`divlib.evaluation.evaluate_runs`). Writes
``data/evaluation/DATASET/MODEL/per_user.parquet`` (one row per run, k and user), ``summary.parquet``
(mean (std) over seeds, gains and Wilcoxon p-values against the relevance-only model, see
:mod:`divlib.evaluation`) and ``metrics/DATASET/MODEL/evaluate.json``, the summary at k = ``diversity.k``
(:func:`divlib.evaluation.reported_metrics`), for ``dvc metrics show``.
"""

import argparse
import logging
import time

import polars as pl
from common import LAYOUT, load_params, main_guard

from divlib.evaluation import evaluate_runs, load_runs, reported_metrics, summarize
from divlib.io import atomic_path, write_json
from divlib.layout import load_evaluation
from divlib.models import load_model
from divlib.rerank import frame_lists

DEVICE = "cpu"  # the published evaluation was computed on the CPU


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("model")
    args = parser.parse_args()
    dataset, model = args.dataset, args.model
    params = load_params()
    start = time.perf_counter()
    data, never = load_evaluation(LAYOUT, dataset)
    base, _ = load_model(LAYOUT.base(dataset, model))
    reranked = frame_lists(pl.read_parquet(LAYOUT.rerank(dataset, model)))
    runs = load_runs(LAYOUT.runs(dataset, model))
    per_user = evaluate_runs(
        base, runs, reranked, data, never, ks=params.evaluate.ks, device=DEVICE
    ).select(pl.lit(dataset).alias("dataset"), pl.lit(model).alias("model"), pl.all())
    summary = summarize(per_user)
    for frame, path in ((per_user, LAYOUT.per_user(dataset, model)),
                        (summary, LAYOUT.summary(dataset, model))):  # fmt: skip
        with atomic_path(path) as temporary:
            frame.write_parquet(temporary)
    metrics = reported_metrics(summary, params.diversity.k)
    write_json(metrics, LAYOUT.metrics(dataset, "evaluate", model))
    logging.info("%s/%s: %d runs evaluated in %.1f s", dataset, model, len(metrics),
                 time.perf_counter() - start)  # fmt: skip


if __name__ == "__main__":
    main_guard(main)
