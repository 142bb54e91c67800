"""Every figure of one dataset, from the evaluation, fine-tuning and sensitivity outputs.

    python stages/figures.py DATASET

Reads ``models``, ``diversity.k`` and ``finetune.scratch.beta`` from params.yaml. Writes, under
``reports/DATASET/``:

* ``figures/NAME.png`` and ``.pdf`` for NAME in beta_sweep, tradeoff, training_curves, adaptive_beta,
  sensitivity and category_histogram (see :mod:`divlib.plots`), and ``figures/case_study.md``: one
  user's top-k before and after DDT, for model nmf (else the first model) and its DDT run at β = 0.5,
  seed 1 (else its first DDT run); the user is the one whose pretrained top-k is most concentrated in
  one category.
* for ``dvc plots``: ``plots/training/MODEL-REGIME.csv`` (step, progress, ddro, dro; DDT at the
  from-scratch β, fine-tuned and from scratch) and ``plots/adaptive_beta/MODEL.csv`` (step, beta,
  beta_low, beta_high), means over seeds as in the figures.

Top-k lists rank the items a user did not rate in training or validation, as in the evaluation.
"""

import argparse
import json
import logging
from pathlib import Path
from typing import NamedTuple

import polars as pl
import torch
from common import load_splits, long_lists, main_guard, read_params

from divlib import plots
from divlib.errors import DivlibError
from divlib.io import atomic_path
from divlib.models import load_model
from divlib.ranking import topk_items
from divlib.tables import frame_table, to_markdown

CASE_MODEL, CASE_BETA, CASE_SEED = "nmf", 0.5, 1


class Case(NamedTuple):
    """The case study's model, run, and every user's top-k before and after that run."""

    model: str
    run: Path
    label: str
    before: pl.DataFrame
    after: pl.DataFrame
    items: pl.DataFrame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    dataset = parser.parse_args().dataset
    models, k = read_params("models"), read_params("diversity", "k")
    scratch_beta = read_params("finetune", "scratch", "beta")
    reports = Path("reports") / dataset
    summary = pl.concat([_summary(dataset, model) for model in models], how="diagonal_relaxed")
    steps = pl.concat([_steps(dataset, model) for model in models], how="diagonal_relaxed")
    training = steps.filter(
        pl.col("method").is_in(["ddt", "ddt-scratch"]) & (pl.col("param") == scratch_beta)
    )
    adaptive = steps.filter(pl.col("method") == "ddt-adaptive")
    case = _case(dataset, CASE_MODEL if CASE_MODEL in models else models[0], k)
    figures = {
        "beta_sweep": lambda: plots.beta_sweep(summary, k=k),
        "tradeoff": lambda: plots.tradeoff(summary, k=k),
        "training_curves": lambda: plots.training_curves(training),
        "adaptive_beta": lambda: plots.adaptive_beta_band(adaptive),
        "sensitivity": lambda: plots.sensitivity(
            pl.read_parquet(Path("data/sensitivity") / dataset / "results.parquet")
        ),
        "category_histogram": lambda: plots.category_histogram(
            case.before,
            case.after,
            _category_names(case.items),
            labels=(f"{case.model.upper()}, relevance only", case.label),
            k=k,
        ),
    }
    missing = {"training_curves": training.is_empty(), "adaptive_beta": adaptive.is_empty()}
    for name, build in figures.items():
        if missing.get(name):
            logging.info("%s: skipped, no such runs in finetune.methods", name)
            continue
        paths = plots.save_figure(build(), reports / "figures" / name)
        logging.info("%s: %s", name, ", ".join(map(str, paths)))
    _write_case_study(case, dataset, k, reports / "figures" / "case_study.md")
    if not training.is_empty():
        series = plots.mean_training_curves(training)
        _write_series(series, ["model", "regime"], reports / "plots/training")
    if not adaptive.is_empty():
        _write_series(
            plots.mean_adaptive_beta(adaptive), ["model"], reports / "plots/adaptive_beta"
        )
    logging.info("dvc plots data: %s", reports / "plots")


def _summary(dataset: str, model: str) -> pl.DataFrame:
    path = Path("data/evaluation") / dataset / model / "summary.parquet"
    return pl.read_parquet(path).with_columns(pl.lit(model).alias("model"))


def _runs(dataset: str, model: str) -> list[tuple[Path, dict]]:
    """Each fine-tuning run's folder and identity (run.json), in name order."""
    folder = Path("models") / dataset / model / "runs"
    if not folder.is_dir():
        raise DivlibError(f"{folder} is missing; run the finetune stage first")
    return [(run, json.loads((run / "run.json").read_text())) for run in sorted(folder.iterdir())]


def _steps(dataset: str, model: str) -> pl.DataFrame:
    """The step logs of every run of ``model``, tagged with model, run, method, param, seed, regime."""
    frames = []
    for run, identity in _runs(dataset, model):
        tags = {"model": model, "run": run.name} | {
            key: identity[key] for key in ("method", "param", "seed", "regime")
        }
        frames.append(
            pl.read_parquet(run / "steps.parquet").with_columns(
                pl.lit(value, dtype=pl.Float64 if key == "param" else None).alias(key)
                for key, value in tags.items()
            )
        )
    return pl.concat(frames, how="diagonal_relaxed")


def _case(dataset: str, model: str, k: int) -> Case:
    """Every user's top-k of ``model`` before and after its case-study DDT run."""
    run, identity = _case_run(dataset, model)
    label = f"{model.upper()}, DDT β = {identity['param']:g}"
    items = pl.read_parquet(Path("data/prepared") / dataset / "items.parquet").sort("item")
    train, val = load_splits(dataset, "train", "val")
    never = train.seen() | val.seen()
    base = Path("models") / dataset / model / "base.pt"
    before, after = (_top_lists(path, never, k, items) for path in (base, run / "selected.pt"))
    return Case(model, run, label, before, after, items)


def _write_case_study(case: Case, dataset: str, k: int, path: Path) -> None:
    """The top-k of the user whose pretrained list is most concentrated in one category, as Markdown."""
    user = plots.concentrated_user(case.before)
    table = plots.case_study(
        *(
            lists.filter(pl.col("user") == user)["item"].to_list()
            for lists in (case.before, case.after)
        ),
        case.items["title"].to_list(),
        case.items["categories"].to_list(),
    )
    heading = (
        f"# {dataset}, user {user}: top-{k} of {case.model.upper()}"
        f" before and after {case.run.name}"
    )
    with atomic_path(path) as temporary:
        temporary.write_text(to_markdown(frame_table(table, caption=heading)))
    logging.info("case_study: %s (user %d)", path, user)


def _category_names(items: pl.DataFrame) -> list[str]:
    return sorted(set(items["categories"].explode().drop_nulls().to_list()))


def _case_run(dataset: str, model: str) -> tuple[Path, dict]:
    """The DDT run at β = CASE_BETA, seed CASE_SEED, else the first DDT run by name."""
    ddt = [
        (run, identity) for run, identity in _runs(dataset, model) if identity["method"] == "ddt"
    ]
    if not ddt:
        raise DivlibError(f"models/{dataset}/{model}/runs has no ddt run for the case study")
    preferred = [run for run in ddt if (run[1]["param"], run[1]["seed"]) == (CASE_BETA, CASE_SEED)]
    return (preferred or ddt)[0]


@torch.no_grad()
def _top_lists(checkpoint: Path, never: torch.Tensor, k: int, items: pl.DataFrame) -> pl.DataFrame:
    """Every user's top-k of a model: user, rank, item, categories."""
    model, _ = load_model(checkpoint)
    top = topk_items(model.score_all(torch.arange(never.shape[0])), k=k, exclude=never)
    return long_lists(top).join(
        items.select(pl.col("item").cast(pl.Int64), "categories"), on="item", how="left"
    )


def _write_series(frame: pl.DataFrame, keys: list[str], folder: Path) -> None:
    """One CSV per group of ``keys`` (named by the key values joined by ``-``), without the keys."""
    for values, group in frame.group_by(keys, maintain_order=True):
        with atomic_path(folder / ("-".join(map(str, values)) + ".csv")) as temporary:
            group.drop(keys).write_csv(temporary, float_precision=6)


if __name__ == "__main__":
    main_guard(main)
