"""Fine-tune one pretrained model for diversity: the grid method × β × seed of params.yaml.

    python stages/finetune.py DATASET MODEL

Reads ``diversity`` and ``finetune`` from params.yaml (``diversity.eps: auto`` is 1/m, the ICLR advice).
Fine-tunes the pretrained model with each method of ``finetune.methods``, and trains the methods of
``finetune.scratch.methods`` at ``scratch.beta`` from a fresh initialisation, with the settings of
``finetune.scratch`` overriding the rest (runs ``METHOD-scratch-…``).
The runs are spread over ``finetune.devices`` (``auto``: every visible GPU, one worker each, else
``finetune.cpu_workers`` CPU workers); each run derives its own seed, so the results do not depend on
the spread. Writes one folder per run under ``models/DATASET/MODEL/runs/`` (selected.pt, final.pt,
steps.parquet, epochs.parquet, run.json with method, param = β, seed, the settings) and
``metrics/DATASET/MODEL/finetune.json`` (per run: DRO@k before and after, validation MSE).
"""

import argparse
import logging
from pathlib import Path

import torch
from common import derive_seed, load_splits, main_guard, read_params

from divlib import dro, load_distance
from divlib.io import atomic_path, write_json
from divlib.models import build_model, load_model, save_model
from divlib.train import DiversityOptions, FinetuneOptions, finetune
from divlib.train.grid import run_grid, visible_devices

GRID_KEYS = ("methods", "betas", "seeds", "scratch", "devices", "cpu_workers")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("model")
    args = parser.parse_args()
    grid = dict(read_params("finetune"))
    methods, betas, seeds = grid["methods"], grid["betas"], grid["seeds"]
    scratch = dict(grid["scratch"])
    scratch_methods, scratch_beta = scratch.pop("methods"), scratch.pop("beta")
    devices, cpu_workers = grid["devices"], grid["cpu_workers"]
    settings = run_settings(grid)
    devices = (
        visible_devices(cpu_workers) if devices == "auto" else [torch.device(d) for d in devices]
    )
    diversity = dict(read_params("diversity"))
    jobs = []
    regimes = [("finetune", m, {}, betas) for m in methods]
    regimes += [("scratch", m, scratch, [scratch_beta]) for m in scratch_methods]
    for regime, method, overrides, regime_betas in regimes:
        for beta in [None] if method == "ddt-adaptive" else regime_betas:
            for seed in seeds:
                label = method + ("" if regime == "finetune" else "-scratch")
                name = label + ("" if beta is None else f"-beta{beta}") + f"-seed{seed}"
                run_seed = derive_seed(seed, args.dataset, args.model, name)
                options = FinetuneOptions(method=method, beta=0.5 if beta is None else beta,
                                          seed=run_seed, **settings | overrides)  # fmt: skip
                identity = {"method": label, "param": beta, "seed": seed, "regime": regime}
                jobs.append((args.dataset, args.model, name, options, diversity, identity))
    logging.info("%d runs on %s", len(jobs), ", ".join(map(str, devices)))
    results = run_grid(run_one, jobs, devices)
    base = Path("models") / args.dataset / args.model
    summary = {}
    model, _ = load_model(base / "base.pt")  # the architecture the run states are loaded into
    with atomic_path(base / "runs") as out:
        for (_, _, name, options, _, identity), (result, config, record) in zip(
            jobs, results, strict=True
        ):
            for state, file in (
                (result.selected_state, "selected.pt"),
                (result.final_state, "final.pt"),
            ):
                model.load_state_dict(state)
                save_model(out / name / file, model, name=args.model, config=config)
            result.steps.write_parquet(out / name / "steps.parquet")
            result.epochs.write_parquet(out / name / "epochs.parquet")
            write_json(identity | record | {"options": options.__dict__}, out / name / "run.json")
            summary[name] = {key: value for key, value in record.items() if key != "diversity"}
            logging.info("%s: %s", name, record)
    write_json(summary, Path("metrics") / args.dataset / args.model / "finetune.json")


def run_settings(section: dict) -> dict:
    """The ``finetune`` section without the grid and its placement: the settings of every run."""
    return {key: value for key, value in section.items() if key not in GRID_KEYS}


def run_one(job: tuple, device: torch.device) -> tuple:
    """One run of the grid (in a worker process when there are several devices)."""
    dataset, model_name, _, options, diversity, identity = job
    train, val = load_splits(dataset, "train", "val")
    if diversity["eps"] == "auto":
        diversity = diversity | {"eps": 1.0 / train.n_items}
    diversity = DiversityOptions(**diversity)
    distance = load_distance(Path("data/similarity") / dataset / "distance.pt")
    model, config = load_model(Path("models") / dataset / model_name / "base.pt")
    if identity.get("regime") == "scratch":  # the same architecture, freshly initialised
        sizes = {key: config[key] for key in ("n_users", "n_items", "dim", "seed", "mean")}
        model = build_model(model_name, **sizes)
    before = _hard_diversity(model, train, distance, diversity.k)
    result = finetune(model, train, val, distance=distance, diversity=diversity, options=options,
                      device=device)  # fmt: skip
    model.load_state_dict(result.selected_state)
    after = _hard_diversity(model.cpu(), train, distance, diversity.k)
    record = {
        "dro_before": round(before, 6),
        "dro_after": round(after, 6),
        "val_mse": round(result.epochs["val_mse"][result.selected_epoch - 1], 6),
        "diversity": diversity.__dict__,
    }
    return result, config, record


@torch.no_grad()
def _hard_diversity(model, train, distance, k: int) -> float:
    """Mean DRO@k over all users, their training items excluded."""
    scores = model.score_all(torch.arange(train.n_users))
    return float(dro(scores, distance=distance, k=k, exclude=train.seen()).mean())


if __name__ == "__main__":
    main_guard(main)
