"""Evaluate one dataset × model: the relevance-only model, every fine-tuned run and every re-ranking.

    python stages/evaluate.py DATASET MODEL

Reads ``evaluate.ks`` and ``diversity.k`` from params.yaml. Lists are ranked over the items a user did
not rate in training or validation. Writes ``data/evaluation/DATASET/MODEL/per_user.parquet`` (one row
per run, k and user), ``summary.parquet`` (mean (std) over seeds, gains and Wilcoxon p-values against
the relevance-only model, see :mod:`divlib.evaluation`) and ``metrics/DATASET/MODEL/evaluate.json``,
the summary at k = ``diversity.k``, for ``dvc metrics show``.
"""

import argparse
import json
import logging
import time
from pathlib import Path

import polars as pl
import torch
from common import load_evaluation, main_guard, read_params

from divlib.evaluation import evaluate_lists, summarize
from divlib.io import atomic_path, write_json
from divlib.models import load_model
from divlib.ranking import topk_items

REPORTED = ("dro", "dro_beyond", "coverage", "relevance", "precision", "recall", "ndcg", "hr",
            "popularity", "dro_gain_pct", "dro_beyond_gain_pct", "relevance_gain", "dro_p")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("model")
    args = parser.parse_args()
    ks, main_k = read_params("evaluate", "ks"), read_params("diversity", "k")
    start = time.perf_counter()
    data, never = load_evaluation(args.dataset)
    folder = Path("models") / args.dataset / args.model
    base_scores = _scores(folder / "base.pt", never.shape[0])
    frames = [
        _model_rows(base_scores, {"method": "base", "param": None, "seed": 0}, data, never, ks)
    ]
    for run in sorted((folder / "runs").iterdir()):
        identity = json.loads((run / "run.json").read_text())
        identity = {key: identity[key] for key in ("method", "param", "seed")}
        scores = _scores(run / "selected.pt", never.shape[0])
        frames.append(_model_rows(scores, identity, data, never, ks))
    lists = pl.read_parquet(Path("data/rerank") / args.dataset / args.model / "lists.parquet")
    for (method, param), group in lists.group_by("method", "param", maintain_order=True):
        items = torch.tensor(group.sort("user", "rank")["item"].to_numpy()).view(
            base_scores.shape[0], -1
        )
        frames.append(
            _tag(
                evaluate_lists(items, base_scores.gather(1, items), data, ks=ks),
                {"method": method, "param": param, "seed": 0},
            )
        )
    per_user = pl.concat(frames, how="diagonal_relaxed").select(
        pl.lit(args.dataset).alias("dataset"), pl.lit(args.model).alias("model"), pl.all()
    )
    summary = summarize(per_user)
    out = Path("data/evaluation") / args.dataset / args.model
    for frame, name in ((per_user, "per_user.parquet"), (summary, "summary.parquet")):
        with atomic_path(out / name) as temporary:
            frame.write_parquet(temporary)
    write_json(
        _metrics(summary, main_k), Path("metrics") / args.dataset / args.model / "evaluate.json"
    )
    logging.info("%s/%s: %d runs evaluated in %.1f s", args.dataset, args.model,
                 summary.filter(pl.col("k") == main_k).height, time.perf_counter() - start)  # fmt: skip


@torch.no_grad()
def _scores(checkpoint: Path, n_users: int) -> torch.Tensor:
    model, _ = load_model(checkpoint)
    return model.score_all(torch.arange(n_users))


def _model_rows(scores: torch.Tensor, identity: dict, data, never, ks) -> pl.DataFrame:
    """Per-user metrics of a model's own ranking (and the paper's test-item HR/Precision/Recall)."""
    items = topk_items(scores, k=2 * max(ks), exclude=never)
    return _tag(
        evaluate_lists(items, scores.gather(1, items), data, ks=ks, scores=scores), identity
    )


def _tag(frame: pl.DataFrame, identity: dict) -> pl.DataFrame:
    return frame.with_columns(
        pl.lit(identity["method"]).alias("method"),
        pl.lit(identity["param"], dtype=pl.Float64).alias("param"),
        pl.lit(identity["seed"], dtype=pl.Int64).alias("seed"),
    )


def _metrics(summary: pl.DataFrame, k: int) -> dict:
    """``{run label: {metric: value}}`` at k, rounded, for dvc metrics show / diff."""
    rows = summary.filter(pl.col("k") == k).to_dicts()
    metrics = {}
    for row in rows:
        label = row["method"] + ("" if row["param"] is None else f"-{row['param']:g}")
        metrics[label] = {
            f"{name}@{k}": float(f"{row[name]:.6g}")
            for name in REPORTED
            if row.get(name) is not None and row[name] == row[name]
        }
    return metrics


if __name__ == "__main__":
    main_guard(main)
