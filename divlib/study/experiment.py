"""Experiments as data: the runs a params section asks for, how one run is trained, and what it leaves.

A grid (:func:`experiment_runs`, :func:`sensitivity_runs`) expands a checked params section
(:mod:`divlib.study.params`) into :class:`RunSpec` objects, each with its name, seed, options and identity; a
new kind of run is a new expansion, not a new loop in a stage. :func:`train_run` trains one spec from
the files of a :class:`~divlib.study.layout.Layout` on one device (``divlib.train.grid.run_grid`` spreads
specs over devices), and :func:`save_runs` writes the runs' folders.

Seeds: each run's seed derives from its grid seed and its identity (dataset, model, run name) by a
stable digest, so results do not depend on how runs are spread over devices or processes.
"""

import dataclasses
import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import polars as pl
import torch
import torch.distributed as dist
from torch import nn

from divlib.errors import DivlibError, TrainingDiverged
from divlib.io import atomic_path, write_json
from divlib.metrics import predicted_relevance_share
from divlib.models import build_model, load_model, save_model
from divlib.objectives import dro
from divlib.ranking import topk_items
from divlib.study.distances import GENRE_JACCARD, item_distance
from divlib.study.layout import (
    HERE,
    Layout,
    check_list_lengths,
    load_splits,
    run_file,
    seed_file,
)
from divlib.study.params import (
    EVALUATED,
    Diversity,
    Finetune,
    GridBackend,
    Params,
    Pretrain,
    Sensitivity,
)
from divlib.train import (
    DiversityOptions,
    FinetuneOptions,
    PretrainOptions,
    TrainResult,
    finetune,
    pretrain,
)
from divlib.train.grid import placement, run_grid
from divlib.train.ray_grid import check_reachable, ray_address, run_grid_on_ray

ARCHITECTURE = ("n_users", "n_items", "dim", "seed", "mean")  # what a fresh model is built from

log = logging.getLogger(__name__)


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
        method
        + ("" if beta is None else f"-beta{beta}")
        + ("" if k is None else f"-k{k}")
        + f"-seed{seed}"
    )


@dataclass(frozen=True)
class RunSpec:
    """One fine-tuning run: what it trains, with which settings, and how it is recorded.

    ``seed`` is the grid seed: the run starts from the model pretrained with it. ``identity`` is
    written to run.json and read by the evaluation (experiment, method, param, seed, regime, train_k).
    ``from_scratch``: train a fresh model of the pretrained architecture. ``base``: the pretrained
    model's file (None: the pretrain stage's, :meth:`Layout.base`); ``similarity``: the item
    similarity S trained and measured with (:data:`divlib.study.distances.SIMILARITIES`).
    """

    dataset: str
    model: str
    name: str
    seed: int
    options: FinetuneOptions
    diversity: Diversity
    identity: dict = field(hash=False)
    from_scratch: bool = False
    base: Path | None = None
    similarity: str = GENRE_JACCARD


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
        cells = [
            (method, beta, k, regime, None)
            for regime in regimes
            for k in ks
            for method in section.methods
            for beta in section.betas
        ]
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
        method=method,
        beta=0.5 if beta is None else beta,
        adaptive_rule=rule or "min-norm",
        seed=derive_seed(seed, dataset, model, name),
        **settings,
    )
    diversity = params.diversity if k is None else params.diversity.model_copy(update={"k": k})
    identity = {
        "experiment": experiment,
        "method": label.removesuffix("-scratch"),
        "param": beta,
        "seed": seed,
        "regime": regime,
        "train_k": diversity.k,
    }
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
            options = FinetuneOptions(
                method=section.method,
                beta=section.beta,
                seed=derive_seed(seed, dataset, section.model, name),
                **settings,
            )
            setting = diversity.model_copy(update={"k": k, "eps": eps})
            specs.append(
                RunSpec(dataset, section.model, name, seed, options, setting, {"eps": eps, "k": k})
            )
    return specs


def pretrain_run(
    seed: int,
    device: torch.device,
    *,
    section: Pretrain,
    dataset: str,
    model: str,
    layout: Layout = HERE,
) -> tuple[nn.Module, TrainResult, dict]:
    """Pretrain ``model`` on ``dataset`` for relevance with the ``pretrain`` section's settings, until
    the validation MSE has not improved for ``patience`` epochs (at most ``max_epochs``). Initialisation
    and batch order derive from ``seed`` and (dataset, model). Returns the model at the epoch of lowest
    validation MSE, the result, and the config :func:`divlib.models.save_model` stores with it.
    (Arguments in the order of :func:`divlib.train.grid.run_grid`'s jobs: seed, device.)"""
    derived = derive_seed(seed, dataset, model)
    settings = section.model_dump(exclude={"dim", "max_epochs"})
    options = PretrainOptions(epochs=section.max_epochs, seed=derived, **settings)
    train, val = load_splits(layout, dataset, "train", "val")
    config = {
        "n_users": train.n_users,
        "n_items": train.n_items,
        "dim": section.dim,
        "seed": derived,
        "mean": float(train.ratings.mean()),
    }
    network = build_model(model, **config)
    result = pretrain(
        network, train, val, options=options, device=device, name=f"{dataset}/{model} seed {seed}"
    )
    network.load_state_dict(result.selected_state)
    return (
        network,
        result,
        config
        | {"options": options.__dict__, "selected_epoch": result.selected_epoch, "grid_seed": seed},
    )


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
    monitored = min(spec.options.monitor_users, train.n_users)  # all users, when fewer
    options = dataclasses.replace(spec.options, monitor_users=monitored)
    model, config = load_model(spec.base or layout.base(spec.dataset, spec.model, spec.seed))
    distance = item_distance(spec.similarity, layout=layout, dataset=spec.dataset, model=model)
    if spec.from_scratch:
        model = build_model(spec.model, **{key: config[key] for key in ARCHITECTURE})
    before = _mean_dro(model, train, distance, diversity.k)
    result = finetune(
        model,
        train,
        val,
        distance=distance,
        diversity=diversity,
        options=options,
        device=device,
        name=spec.name,
    )
    model.load_state_dict(result.selected_state)
    after = _mean_dro(model.cpu(), train, distance, diversity.k)
    record = {
        "dro_before": round(before, 6),
        "dro_after": round(after, 6),
        "selected_epoch": result.selected_epoch,
        "val_mse": round(result.epochs[result.selected_epoch - 1]["val_mse"], 6),
        "diversity": diversity.__dict__,
        "options": options.__dict__,
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
    run = spec.identity | outcome.record | (extra or {})
    write_json(run, run_file(folder, "record"))


def save_runs(folder: Path, specs: list[RunSpec], outcomes: list[RunOutcome]) -> dict:
    """Every run's folder under ``folder`` (all or nothing); returns ``{name: record}`` without the
    DDRO settings, for a metrics file."""
    with atomic_path(folder) as out:
        for spec, outcome in zip(specs, outcomes, strict=True):
            save_run(out / spec.name, spec, outcome)
    return {
        spec.name: {k: v for k, v in outcome.record.items() if k not in ("diversity", "options")}
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
        rows.append(
            {
                "eps": float(record["diversity"]["eps"]),
                "eps_setting": str(spec.identity["eps"]),
                "k": k,
                "dro": record["dro_after"],
                "dro_before": record["dro_before"],
                "relevance": _relevance_share(model, seen, k),
                "val_mse": record["val_mse"],
            }
        )
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


# The stages' work: each function below is the one call of a stage script (stages/*.py).


def pretrain_models(
    section: Pretrain,
    seeds: list[int],
    grid: GridBackend,
    *,
    dataset: str,
    model: str,
    layout: Layout = HERE,
) -> None:
    """The ``pretrain`` stage: pretrain ``model`` on ``dataset`` once per seed (:func:`pretrain_run`),
    spread over ``grid.devices``. Writes ``models/D/M/base/`` (``seedS.pt`` and every seed's
    ``epochs.parquet``; all or nothing) and ``metrics/D/pretrain/M.json`` (per seed: the epoch chosen,
    its validation MSE and the epochs run)."""
    start = time.perf_counter()
    summary = pretrain_seeds(
        section,
        seeds,
        grid,
        dataset=dataset,
        model=model,
        folder=layout.bases(dataset, model),
        layout=layout,
    )
    write_json(summary, layout.pretraining(dataset, model))
    seconds = time.perf_counter() - start
    log.info("%s/%s: %d models in %.1f s", dataset, model, len(summary), seconds)


def pretrain_seeds(
    section: Pretrain,
    seeds: list[int],
    grid: GridBackend,
    *,
    dataset: str,
    model: str,
    folder: Path,
    layout: Layout = HERE,
) -> dict:
    """Pretrain ``model`` once per seed (:func:`pretrain_run`) over ``grid.devices`` and write
    ``folder`` (``seedS.pt`` and every seed's ``epochs.parquet``; all or nothing). Returns, per
    seed, the epoch kept, its validation MSE and the epochs run."""
    train = partial(pretrain_run, section=section, dataset=dataset, model=model, layout=layout)
    devices = grid_devices(grid)
    with learning_rate_named("pretrain.lr", section.lr):
        outcomes = run_grid(train, seeds, devices, describe=describe_pretraining)
    summary, epochs = {}, []
    with atomic_path(folder) as out:
        for seed, (network, result, config) in zip(seeds, outcomes, strict=True):
            save_model(seed_file(out, seed), network, name=model, config=config)
            epochs.append(pl.DataFrame(result.epochs).select(pl.lit(seed).alias("seed"), pl.all()))
            kept = result.epochs[result.selected_epoch - 1]
            summary[f"seed{seed}"] = {
                "val_mse": round(kept["val_mse"], 6),
                "selected_epoch": result.selected_epoch,
                "epochs_run": len(result.epochs),
            }
        pl.concat(epochs).write_parquet(out / "epochs.parquet")
    return summary


def run_experiment(
    params: Params, experiment: str, *, dataset: str, model: str, layout: Layout = HERE
) -> None:
    """The ``finetune`` stage: the runs of ``experiment`` (:func:`experiment_runs`) for one dataset
    and model, on the grid of ``params.grid`` (:func:`grid_backend`). Writes one folder per run under
    ``models/D/M/E/`` (:func:`save_runs`: all or nothing) and ``metrics/D/M/E.json`` (per run: DRO@k
    before and after, the selected epoch and its validation MSE); the runs' devices and wall times
    go to ``times/D/M/E.json``, outside git and DVC's outputs."""
    start = time.perf_counter()
    specs = experiment_runs(params, experiment, dataset=dataset, model=model)
    if not specs:
        raise DivlibError(
            f"{experiment}.models does not list {model}; add it there to fine-tune it"
        )
    section = params.experiment(experiment)
    key = f"{experiment}.ks" if hasattr(section, "ks") else "diversity.k"
    check_run_lengths(
        {key: max(spec.diversity.k for spec in specs)},
        dataset,
        evaluated=2 * max(params.evaluate.ks),
        layout=layout,
    )
    grid, where = grid_backend(params.grid)
    log.info("%s: %d runs on %s", experiment, len(specs), where)
    # each run reads its inputs at this absolute path (on a Ray cluster: a shared file system)
    run = partial(train_run, layout=Layout(layout.root.resolve()))
    with learning_rate_named("finetune.lr", params.finetune.lr):
        outcomes = grid(run, specs, describe=describe_run)
    summary = save_runs(layout.runs(dataset, model, experiment), specs, outcomes)
    write_json(summary, layout.metrics(dataset, experiment, model))
    record_run_times(run_times(specs, outcomes), layout.times(dataset, model, experiment))
    log.info(
        "%s/%s/%s: %d runs in %.1f s",
        dataset,
        model,
        experiment,
        len(specs),
        time.perf_counter() - start,
    )


def run_distributed(
    params: Params,
    experiment: str,
    *,
    dataset: str,
    model: str,
    name: str,
    layout: Layout = HERE,
) -> None:
    """One run of ``experiment`` (its run ``name``), data parallel over the processes torchrun
    started: gloo on CPU, NCCL when CUDA is visible (process i uses cuda:i). Rank 0 writes
    ``data/distributed/D/M/NAME/`` (as a finetune run's folder, with the world size in run.json) and
    the run's device and wall times to ``times/D/M/distributed-NAME.json``."""
    specs = experiment_runs(params, experiment, dataset=dataset, model=model)
    spec = next((spec for spec in specs if spec.name == name), None)
    if spec is None:
        names = ", ".join(spec.name for spec in specs) or "none for this model"
        raise DivlibError(f"{experiment} has no run {name!r}; its runs: {names}")
    cuda = torch.cuda.is_available()
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    dist.init_process_group("nccl" if cuda else "gloo")
    if dist.get_rank() > 0:  # rank 0 logs the run's epochs for all
        logging.getLogger().setLevel(logging.WARNING)
    try:
        with learning_rate_named("finetune.lr", params.finetune.lr):
            outcome = train_run(spec, device, layout=layout)
        if dist.get_rank() == 0:
            world = {"world_size": dist.get_world_size()}
            with atomic_path(layout.distributed(dataset, model, spec.name)) as out:
                save_run(out, spec, outcome, extra=world)
            times = layout.times(dataset, model, f"distributed-{spec.name}")
            record_run_times(run_times([spec], [outcome]), times)
            print(f"{describe_run(spec, outcome)}, {world['world_size']} processes")
    finally:
        dist.destroy_process_group()


def run_sensitivity(
    section: Sensitivity,
    finetune_section: Finetune,
    diversity: Diversity,
    grid: GridBackend,
    *,
    dataset: str,
    seed: int,
    layout: Layout = HERE,
) -> None:
    """The ``sensitivity`` stage: the grid ε × k of :func:`sensitivity_runs` from the model
    pretrained with ``seed``, over ``grid.devices``. Writes ``data/sensitivity/D/results.parquet``
    (:func:`sensitivity_results`) and ``metrics/D/sensitivity.json`` (DRO@k and validation MSE per
    ε and k)."""
    specs = sensitivity_runs(section, finetune_section, diversity, dataset=dataset, seed=seed)
    check_run_lengths({"sensitivity.ks": max(section.ks)}, dataset, layout=layout)
    log.info("%d sensitivity runs", len(specs))
    devices = grid_devices(grid)
    run = partial(train_run, layout=layout)
    with learning_rate_named("finetune.lr", finetune_section.lr):
        outcomes = run_grid(run, specs, devices, describe=describe_run)
    results = sensitivity_results(specs, outcomes, layout=layout)
    with atomic_path(layout.sensitivity(dataset)) as temporary:
        results.write_parquet(temporary)
    metrics = {
        f"eps={row['eps_setting']},k={row['k']}": {"dro": row["dro"], "val_mse": row["val_mse"]}
        for row in results.iter_rows(named=True)
    }
    write_json(metrics, layout.metrics(dataset, "sensitivity"))


def grid_backend(grid: GridBackend) -> tuple[Callable, str]:
    """The grid function of ``grid.backend`` (:func:`divlib.train.grid.run_grid`'s arguments less
    the devices), and where it runs, for the log. A Ray cluster that does not answer at its address
    fails here, naming ``grid.address`` (or RAY_ADDRESS), before any run."""
    if grid.backend == "ray":
        address = ray_address(grid.address)
        try:
            check_reachable(address)
        except DivlibError as error:
            key = "grid.address" if grid.address else "RAY_ADDRESS (grid.address is empty)"
            raise DivlibError(f"{key}: {error}") from None
        return partial(run_grid_on_ray, address=address), (
            f"Ray at {address}" if address else "a local Ray instance"
        )
    devices = grid_devices(grid)
    return partial(run_grid, devices=devices), ", ".join(map(str, devices))


def grid_devices(grid: GridBackend) -> list[torch.device]:
    """The devices of ``grid.devices`` (:func:`divlib.train.grid.placement`): a CUDA device this
    machine lacks is a DivlibError naming the key; ``grid.cpu_workers`` above the CPU cores this
    process may use is lowered to their number, with one warning (runs are equal either way)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = min(grid.cpu_workers, cores or 1)
    if workers < grid.cpu_workers and grid.devices == "auto" and not torch.cuda.is_available():
        log.warning(
            "grid.cpu_workers: %d is more than the %d CPU cores here; running %d workers",
            grid.cpu_workers,
            workers,
            workers,
        )
    devices = placement(grid.devices, workers)
    count = torch.cuda.device_count()
    missing = [str(d) for d in devices if d.type == "cuda" and (d.index or 0) >= count]
    if missing:
        here = f"{count} CUDA device(s)" if count else "no CUDA (torch sees no GPU)"
        raise DivlibError(
            f"grid.devices: {missing[0]} is not on this machine, which has {here}; list devices "
            "it has (e.g. [cpu]) or write auto"
        )
    return devices


@contextmanager
def learning_rate_named(setting: str, value: float) -> Iterator[None]:
    """Name the params.yaml learning rate (``setting``) in a TrainingDiverged raised inside."""
    try:
        yield
    except TrainingDiverged as error:
        raise TrainingDiverged(
            f"{error} (the learning rate is {setting} = {value} in params.yaml)",
            step=error.step,
            last_good=error.last_good,
        ) from None


def check_run_lengths(
    lengths: dict[str, int], dataset: str, *, evaluated: int | None = None, layout: Layout = HERE
) -> None:
    """Every user of ``dataset`` has at least k items not rated in training, for each k of
    ``lengths`` (params.yaml key: k), as DDRO and DRO@k of a run need, and ``evaluated`` items not
    rated in training or validation, as the evaluation of its lists needs; else one line naming the
    key (:func:`~divlib.study.layout.check_list_lengths`), before any run."""
    train, val = load_splits(layout, dataset, "train", "val")
    check_list_lengths(lengths, train.seen(), excluded="training")
    if evaluated is not None:
        never = train.seen() | val.seen()
        check_list_lengths({EVALUATED: evaluated}, never, excluded="training or validation")


def record_run_times(times: dict, path: Path) -> None:
    """Write runs' times (:func:`run_times`) to ``path`` under ``times/``; a time that cannot be
    written is a warning, never a failure of a stage whose outputs are complete."""
    try:
        write_json(times, path)
    except OSError as error:
        log.warning("the runs' times were not recorded in %s (%s)", path, error)
