"""Sensitivity of DDT to ε and k: fine-tune one pretrained model over the grid ε × k of params.yaml.

    python stages/sensitivity.py DATASET

Reads ``sensitivity`` (model, method, β, the ε and k grids, epochs) and the rest of the run settings
from ``diversity`` and ``finetune``. Each run is evaluated at its own k over all users, training items
excluded: DRO@k, the paper's predicted relevance share @k, validation MSE. Writes
``data/sensitivity/DATASET/results.parquet`` and ``metrics/DATASET/sensitivity.json``.
"""

import argparse
import logging
from pathlib import Path

import polars as pl
import torch
from common import derive_seed, load_splits, main_guard, read_params
from finetune import run_one

from divlib.io import atomic_path, write_json
from divlib.metrics import predicted_relevance_share
from divlib.models import load_model
from divlib.ranking import topk_items
from divlib.train import FinetuneOptions
from divlib.train.grid import run_grid, visible_devices

SHARED_SETTINGS = ("lr", "batch_size", "users_per_step", "weight_decay", "select", "monitor_users",
                   "meta_lr", "adaptive_rule")  # fmt: skip  # read from finetune; listed in dvc.yaml


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    dataset = parser.parse_args().dataset
    grid = read_params("sensitivity")
    settings = {key: read_params("finetune", key) for key in SHARED_SETTINGS}
    jobs = []
    for eps in grid["eps"]:
        for k in grid["ks"]:
            name = f"eps{eps}-k{k}"
            options = FinetuneOptions(method=grid["method"], beta=grid["beta"], epochs=grid["epochs"],
                                      seed=derive_seed(1, dataset, grid["model"], name), **settings)  # fmt: skip
            diversity = read_params("diversity") | {"k": k, "eps": eps}
            identity = {"eps": eps, "k": k}
            jobs.append((dataset, grid["model"], name, options, diversity, identity))
    logging.info("%d sensitivity runs", len(jobs))
    results = run_grid(run_one, jobs, visible_devices(read_params("finetune", "cpu_workers")))
    model, _ = load_model(Path("models") / dataset / grid["model"] / "base.pt")
    (train,) = load_splits(dataset, "train")
    seen = train.seen()
    rows = []
    for job, (result, _, record) in zip(jobs, results, strict=True):
        model.load_state_dict(result.selected_state)
        rows.append({
            "eps": float(record["diversity"]["eps"]), "eps_setting": str(job[5]["eps"]),
            "k": job[5]["k"], "dro": record["dro_after"], "dro_before": record["dro_before"],
            "relevance": _relevance_share(model, seen, job[5]["k"]), "val_mse": record["val_mse"],
        })  # fmt: skip
    frame = pl.DataFrame(rows)
    with atomic_path(Path("data/sensitivity") / dataset / "results.parquet") as temporary:
        frame.write_parquet(temporary)
    metrics = {
        f"eps={r['eps_setting']},k={r['k']}": {"dro": r["dro"], "val_mse": r["val_mse"]}
        for r in rows
    }
    write_json(metrics, Path("metrics") / dataset / "sensitivity.json")


@torch.no_grad()
def _relevance_share(model, seen: torch.Tensor, k: int) -> float:
    """Mean over users of the paper's predicted relevance share of the top-k, ``seen`` items excluded."""
    scores = model.score_all(torch.arange(seen.shape[0]))
    items = topk_items(scores, k=k, exclude=seen)
    return round(float(predicted_relevance_share(scores.gather(1, items)).mean()), 6)


if __name__ == "__main__":
    main_guard(main)
