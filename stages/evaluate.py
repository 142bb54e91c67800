"""Evaluate one experiment's runs on one dataset × model, or (``baselines``) the pretrained models and
their re-rankings.

    python stages/evaluate.py EXPERIMENT DATASET MODEL

EXPERIMENT is ``baselines`` (each seed's pretrained model, method ``base``, the re-rankers' lists of
it and the anchors ``popular`` and ``random``) or an experiment of params.yaml whose runs are
evaluated (``beta_sweep``, ``main_table``, ``gain_beyond_k``, ``adaptive_beta``). Reads
``evaluate.ks``. Lists are ranked over the items a user did not rate in training or validation;
every run is evaluated at every k (its own k is ``train_k``). Writes
``data/evaluation/DATASET/MODEL/EXPERIMENT/per_user.parquet`` (one row per run, k and user) and
``summary.parquet`` (mean (std) over seeds, gains and Wilcoxon p-values against the pretrained
models, which an experiment's summary includes; see :mod:`divlib.study.evaluation`).
"""

import argparse
import logging
import time

import polars as pl
from common import LAYOUT, load_params, main_guard

from divlib.io import atomic_path
from divlib.models import load_model
from divlib.study.evaluation import (
    evaluate_baselines,
    evaluate_models,
    frame_lists,
    load_evaluation,
    load_runs,
    summarize,
)
from divlib.study.params import EXPERIMENTS

DEVICE = "cpu"  # the published evaluation was computed on the CPU
BASELINES = "baselines"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", choices=(BASELINES, *EXPERIMENTS))
    parser.add_argument("dataset")
    parser.add_argument("model")
    args = parser.parse_args()
    experiment, dataset, model = args.experiment, args.dataset, args.model
    params = load_params()
    ks = params.evaluate.ks
    start = time.perf_counter()
    data, never = load_evaluation(LAYOUT, dataset)
    if experiment == BASELINES:
        lists = pl.read_parquet(LAYOUT.rerank(dataset, model))
        frames = []
        for seed in params.seeds:
            base, _ = load_model(LAYOUT.base(dataset, model, seed))
            reranked = frame_lists(lists.filter(pl.col("seed") == seed).drop("seed"))
            frames.append(evaluate_baselines(base, reranked, data, never, seed=seed, ks=ks,
                                             device=DEVICE))  # fmt: skip
        per_user = _tagged(pl.concat(frames, how="diagonal_relaxed"), dataset, model)
        compared = per_user
    else:
        runs = load_runs(LAYOUT.runs(dataset, model, experiment))
        per_user = _tagged(evaluate_models(runs, data, never, ks=ks, device=DEVICE), dataset, model)
        baselines = pl.read_parquet(LAYOUT.per_user(dataset, model, BASELINES))
        bases = baselines.filter(pl.col("method") == "base")
        compared = pl.concat([bases, per_user], how="diagonal_relaxed")
    summary = summarize(compared)
    for frame, path in ((per_user, LAYOUT.per_user(dataset, model, experiment)),
                        (summary, LAYOUT.summary(dataset, model, experiment))):  # fmt: skip
        with atomic_path(path) as temporary:
            frame.write_parquet(temporary)
    logging.info("%s/%s/%s: %d settings evaluated in %.1f s", dataset, model, experiment,
                 summary.filter(pl.col("k") == ks[0]).height, time.perf_counter() - start)  # fmt: skip


def _tagged(per_user: pl.DataFrame, dataset: str, model: str) -> pl.DataFrame:
    return per_user.select(pl.lit(dataset).alias("dataset"), pl.lit(model).alias("model"), pl.all())


if __name__ == "__main__":
    main_guard(main)
