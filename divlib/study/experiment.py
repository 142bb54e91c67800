"""Experiments as data: the runs a params section asks for, how one run is trained, and what it leaves.

A grid (:func:`experiment_runs`, :func:`sensitivity_runs`) expands a checked params section
(:mod:`divlib.study.params`) into :class:`RunSpec` objects, each with its name, seed, options and identity; a
new kind of run is a new expansion, not a new loop in a stage. :func:`train_run` trains one spec from
the files of a :class:`~divlib.study.layout.Layout` on one device (``divlib.train.grid.run_grid`` spreads
specs over devices), and :func:`save_runs` writes the runs' folders.

Seeds: each run's seed derives from its grid seed and its identity (dataset, model, run name) by a
stable digest, so results do not depend on how runs are spread over devices or processes.
"""

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import torch
from torch import nn

from divlib.io import atomic_path, write_json
from divlib.metrics import predicted_relevance_share
from divlib.models import build_model, load_model, save_model
from divlib.objectives import dro
from divlib.ranking import topk_items
from divlib.similarity import load_distance
from divlib.study.layout import Layout, load_splits, run_file
from divlib.study.params import Diversity, Finetune, Params, Pretrain, Sensitivity
from divlib.train import (
    DiversityOptions,
    FinetuneOptions,
    PretrainOptions,
    TrainResult,
    finetune,
    pretrain,
)

HERE = Layout()  # the working directory's files
ARCHITECTURE = ("n_users", "n_items", "dim", "seed", "mean")  # what a fresh model is built from


def derive_seed(root: int, *identity: object) -> int:
    """A run's seed from a root seed and the run's identity: a digest of the strings (never Python's
    salted ``hash``), so it is the same in every process and on every machine, as LensKit's
    ``make_seed`` does."""
    digest = hashlib.sha256("/".join(map(str, identity)).encode()).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return int(np.random.SeedSequence([root, *words]).generate_state(1)[0])


def diversity_options(section: Diversity, n_items: int) -> DiversityOptions:
    """The DDRO settings of ``section`` for a catalogue of ``n_items``: ``eps: auto`` is 1/m (the ICLR
    advice)."""
    settings = section.model_dump()
    if settings["eps"] == "auto":
        settings["eps"] = 1.0 / n_items
    return DiversityOptions(**settings)


def run_name(method: str, beta: float | None, seed: int, *, k: int | None = None) -> str:
    """``ddt-beta0.5-seed1``; ``ddt-beta0.5-k20-seed1`` for a run trained for its own k; no β part for
    a method that sets β itself (``ddt-adaptive-seed1``)."""
    return (
        method + ("" if beta is None else f"-beta{beta}") + ("" if k is None else f"-k{k}")
        + f"-seed{seed}"
    )  # fmt: skip


@dataclass(frozen=True)
class RunSpec:
    """One fine-tuning run: what it trains, with which settings, and how it is recorded.

    ``seed`` is the grid seed: the run starts from the model pretrained with it. ``identity`` is
    written to run.json and read by the evaluation (experiment, method, param, seed, regime, train_k).
    ``from_scratch``: train a fresh model of the pretrained architecture.
    """

    dataset: str
    model: str
    name: str
    seed: int
    options: FinetuneOptions
    diversity: Diversity
    identity: dict = field(hash=False)
    from_scratch: bool = False


@dataclass
class RunOutcome:
    """A trained run: its result, the model's architecture config, its summary record, and where and
    how long it ran (``timing``: device and wall_seconds), which stays out of every result file."""

    result: TrainResult
    config: dict
    record: dict
    timing: dict = field(default_factory=dict)


def experiment_runs(params: Params, experiment: str, *, dataset: str, model: str) -> list[RunSpec]:
    """The runs of one of the paper's experiments (a section of params.yaml, :data:`EXPERIMENTS`)
    for one dataset and model, over the experiment's seeds; empty if it does not list ``model``.

    * ``beta_sweep``, ``main_table``: the grid method × β (Q1, Q2).
    * ``gain_beyond_k``: the grid once per k of ``ks``, each run trained for its own k (Q3).
    * ``training_curves``: the grid fine-tuned and from scratch (Q4).
    * ``adaptive_beta``: ``ddt-adaptive`` once per rule (Lemma 3).
    """
    section = params.experiment(experiment)
    if model not in section.models:
        return []
    if experiment == "adaptive_beta":  # cells: (method, β, k, regime, rule)
        cells = [("ddt-adaptive", None, None, "finetune", rule) for rule in section.rules]
    else:
        ks = section.ks if experiment == "gain_beyond_k" else [None]
        regimes = ["finetune", "scratch"] if experiment == "training_curves" else ["finetune"]
        cells = [(method, beta, k, regime, None) for regime in regimes for k in ks
                 for method in section.methods for beta in section.betas]  # fmt: skip
    return [
        _spec(params, experiment, cell, dataset=dataset, model=model, seed=seed)
        for cell in cells
        for seed in params.seeds_of(experiment)
    ]


def _spec(
    params: Params, experiment: str, cell: tuple, *, dataset: str, model: str, seed: int
) -> RunSpec:
    """One run of :func:`experiment_runs` from its grid cell (method, β, k, regime, rule)."""
    method, beta, k, regime, rule = cell
    section = params.experiment(experiment)
    label = method + ("" if rule in (None, "min-norm") else f"-{rule}")
    label += "-scratch" if regime == "scratch" else ""
    name = run_name(label, beta, seed, k=k)
    settings = params.finetune.model_dump() | {"epochs": section.epochs}
    if regime == "scratch":
        settings["batch_size"] = section.scratch_batch_size
    options = FinetuneOptions(
        method=method, beta=0.5 if beta is None else beta, adaptive_rule=rule or "min-norm",
        seed=derive_seed(seed, dataset, model, name), **settings,
    )  # fmt: skip
    diversity = params.diversity if k is None else params.diversity.model_copy(update={"k": k})
    identity = {"experiment": experiment, "method": label.removesuffix("-scratch"), "param": beta,
                "seed": seed, "regime": regime, "train_k": diversity.k}  # fmt: skip
    return RunSpec(dataset, model, name, seed, options, diversity, identity, regime == "scratch")


def sensitivity_runs(
    section: Sensitivity,
    finetune_section: Finetune,
    diversity: Diversity,
    *,
    dataset: str,
    seed: int,
) -> list[RunSpec]:
    """The grid ε × k of the ``sensitivity`` section: one model (the one pretrained with ``seed``),
    method and β, the settings of the ``finetune`` section for ``sensitivity.epochs``."""
    settings = finetune_section.model_dump() | {"epochs": section.epochs}
    specs = []
    for eps in section.eps:
        for k in section.ks:
            name = f"eps{eps}-k{k}"
            options = FinetuneOptions(method=section.method, beta=section.beta,
                                      seed=derive_seed(seed, dataset, section.model, name), **settings)  # fmt: skip
            setting = diversity.model_copy(update={"k": k, "eps": eps})
            specs.append(
                RunSpec(dataset, section.model, name, seed, options, setting, {"eps": eps, "k": k})
            )
    return specs


def pretrain_run(
    seed: int, device: torch.device, *, section: Pretrain, dataset: str, model: str,
    layout: Layout = HERE,
) -> tuple[nn.Module, TrainResult, dict]:  # fmt: skip
    """Pretrain ``model`` on ``dataset`` for relevance with the ``pretrain`` section's settings, until
    the validation MSE has not improved for ``patience`` epochs (at most ``max_epochs``). Initialisation
    and batch order derive from ``seed`` and (dataset, model). Returns the model at the epoch of lowest
    validation MSE, the result, and the config :func:`divlib.models.save_model` stores with it.
    (Arguments in the order of :func:`divlib.train.grid.run_grid`'s jobs: seed, device.)"""
    derived = derive_seed(seed, dataset, model)
    settings = section.model_dump(exclude={"dim", "max_epochs"})
    options = PretrainOptions(epochs=section.max_epochs, seed=derived, **settings)
    train, val = load_splits(layout, dataset, "train", "val")
    config = {"n_users": train.n_users, "n_items": train.n_items, "dim": section.dim, "seed": derived,
              "mean": float(train.ratings.mean())}  # fmt: skip
    network = build_model(model, **config)
    result = pretrain(network, train, val, options=options, device=device,
                      name=f"{dataset}/{model} seed {seed}")  # fmt: skip
    network.load_state_dict(result.selected_state)
    return (
        network,
        result,
        config | {"options": options.__dict__, "selected_epoch": result.selected_epoch,
                  "grid_seed": seed},
    )  # fmt: skip


def train_run(spec: RunSpec, device: torch.device, *, layout: Layout = HERE) -> RunOutcome:
    """Fine-tune (or train from scratch) the pretrained model of ``spec`` on ``device``.

    The record: mean DRO@k over all users (training items excluded) before and after, the selected
    epoch (``options.select``) and its validation MSE and the DDRO settings (ε resolved). The device
    and the run's wall time (``wall_seconds``) go to the outcome's ``timing``: they depend on the
    machine, not on the run. A diverging run raises TrainingDiverged.
    """
    start = time.perf_counter()
    train, val = load_splits(layout, spec.dataset, "train", "val")
    diversity = diversity_options(spec.diversity, train.n_items)
    distance = load_distance(layout.distance(spec.dataset))
    model, config = load_model(layout.base(spec.dataset, spec.model, spec.seed))
    if spec.from_scratch:
        model = build_model(spec.model, **{key: config[key] for key in ARCHITECTURE})
    before = _mean_dro(model, train, distance, diversity.k)
    result = finetune(model, train, val, distance=distance, diversity=diversity,
                      options=spec.options, device=device, name=spec.name)  # fmt: skip
    model.load_state_dict(result.selected_state)
    after = _mean_dro(model.cpu(), train, distance, diversity.k)
    record = {
        "dro_before": round(before, 6),
        "dro_after": round(after, 6),
        "selected_epoch": result.selected_epoch,
        "val_mse": round(result.epochs[result.selected_epoch - 1]["val_mse"], 6),
        "diversity": diversity.__dict__,
    }
    timing = {"device": str(device), "wall_seconds": round(time.perf_counter() - start, 3)}
    return RunOutcome(result, config, record, timing)


def describe_run(spec: RunSpec, outcome: RunOutcome) -> str:
    """One line on a trained run, for the log: ``ddt-beta0.2-seed1 on cpu: DRO@10 0.766 → 0.999,
    epoch 18 selected, val MSE 0.905``."""
    record = outcome.record
    return (
        f"{spec.name} on {outcome.timing['device']}: DRO@{record['diversity']['k']} "
        f"{record['dro_before']:.3f} → {record['dro_after']:.3f}, epoch {record['selected_epoch']} "
        f"selected, val MSE {record['val_mse']:.3f}"
    )


def describe_pretraining(seed: int, outcome: tuple[nn.Module, TrainResult, dict]) -> str:
    """One line on a pretrained model, for the log: ``seed 1: 12 epochs, val MSE 0.919 at epoch 7``."""
    result = outcome[1]
    best = result.epochs[result.selected_epoch - 1]["val_mse"]
    return (
        f"seed {seed}: {len(result.epochs)} epochs, val MSE {best:.3f} at epoch "
        f"{result.selected_epoch}"
    )


def save_run(
    folder: Path, spec: RunSpec, outcome: RunOutcome, *, extra: dict | None = None
) -> None:
    """One run's folder: selected.pt and final.pt (loadable by :func:`divlib.models.load_model`),
    steps.parquet, epochs.parquet and run.json (identity, record, options and ``extra``)."""
    model = build_model(spec.model, **{key: outcome.config[key] for key in ARCHITECTURE})
    for name, state in (
        ("selected", outcome.result.selected_state),
        ("final", outcome.result.final_state),
    ):
        model.load_state_dict(state)
        save_model(run_file(folder, name), model, name=spec.model, config=outcome.config)
    pl.DataFrame(outcome.result.steps).write_parquet(run_file(folder, "steps"))
    pl.DataFrame(outcome.result.epochs).write_parquet(run_file(folder, "epochs"))
    run = spec.identity | outcome.record | {"options": spec.options.__dict__} | (extra or {})
    write_json(run, run_file(folder, "record"))


def save_runs(folder: Path, specs: list[RunSpec], outcomes: list[RunOutcome]) -> dict:
    """Every run's folder under ``folder`` (all or nothing); returns ``{name: record}`` without the
    DDRO settings, for a metrics file."""
    with atomic_path(folder) as out:
        for spec, outcome in zip(specs, outcomes, strict=True):
            save_run(out / spec.name, spec, outcome)
    return {
        spec.name: {key: value for key, value in outcome.record.items() if key != "diversity"}
        for spec, outcome in zip(specs, outcomes, strict=True)
    }


def run_times(specs: list[RunSpec], outcomes: list[RunOutcome]) -> dict:
    """``{name: {device, wall_seconds, step_seconds}}`` of each run: what the runs' files leave out."""
    return {
        spec.name: outcome.timing
        | {"step_seconds": [round(s, 4) for s in outcome.result.step_seconds]}
        for spec, outcome in zip(specs, outcomes, strict=True)
    }


def sensitivity_results(
    specs: list[RunSpec], outcomes: list[RunOutcome], *, layout: Layout = HERE
) -> pl.DataFrame:
    """One row per run of :func:`sensitivity_runs`: ε (resolved) and its setting, k, DRO@k before and
    after, the paper's predicted relevance share @k, validation MSE; all users, training items excluded."""
    if not specs:
        return pl.DataFrame()
    model, _ = load_model(layout.base(specs[0].dataset, specs[0].model, specs[0].seed))
    (train,) = load_splits(layout, specs[0].dataset, "train")
    seen = train.seen()
    rows = []
    for spec, outcome in zip(specs, outcomes, strict=True):
        model.load_state_dict(outcome.result.selected_state)
        k, record = spec.identity["k"], outcome.record
        rows.append({
            "eps": float(record["diversity"]["eps"]), "eps_setting": str(spec.identity["eps"]),
            "k": k, "dro": record["dro_after"], "dro_before": record["dro_before"],
            "relevance": _relevance_share(model, seen, k), "val_mse": record["val_mse"],
        })  # fmt: skip
    return pl.DataFrame(rows)


@torch.no_grad()
def _mean_dro(model, train, distance, k: int) -> float:
    """Mean DRO@k over all users, their training items excluded."""
    scores = model.score_all(torch.arange(train.n_users))
    return float(dro(scores, distance=distance, k=k, exclude=train.seen()).mean())


@torch.no_grad()
def _relevance_share(model, seen: torch.Tensor, k: int) -> float:
    """Mean over users of the paper's predicted relevance share of the top-k, ``seen`` items excluded."""
    scores = model.score_all(torch.arange(seen.shape[0]))
    items = topk_items(scores, k=k, exclude=seen)
    return round(float(predicted_relevance_share(scores.gather(1, items)).mean()), 6)
