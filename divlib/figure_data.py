"""The data behind the figures, read from the pipeline's outputs and aggregated: what :mod:`divlib.plots`
draws and what ``dvc plots`` reads.

:func:`load_figure_data` gathers everything the figures stage shows for one dataset: every model's
evaluation summary, the fine-tuning step logs (as mean training curves and mean adaptive β), the
sensitivity results, and the case study: every user's top-k before and after one DDT run
(:func:`load_case_study`), from which the category histogram and one user's lists are taken. Top-k lists
rank the items a user did not rate in training or validation, as in the evaluation.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import torch

from divlib.errors import DivlibError
from divlib.evaluation import long_lists
from divlib.layout import Layout, load_splits, read_runs
from divlib.methods import BY_KEY
from divlib.models import load_model
from divlib.ranking import topk_items
from divlib.tables import frame_table, read_summaries, to_markdown

# the case study's model, and the β and seed of its DDT run, where they exist
CASE_MODEL, CASE_BETA, CASE_SEED = "nmf", 0.5, 1


@dataclass(frozen=True)
class CaseStudy:
    """One model's case-study DDT run and every user's top-k before and after it.

    ``before``, ``after``: one row per slot (user, rank, item, categories); ``items``: the catalogue
    (item, title, categories), sorted by item.
    """

    model: str
    run: str
    param: float
    before: pl.DataFrame
    after: pl.DataFrame
    items: pl.DataFrame


@dataclass(frozen=True)
class FigureData:
    """Everything the figures of one dataset show; ``training`` and ``adaptive`` are None when no such
    run was trained."""

    summary: pl.DataFrame  # every model's evaluation summary, with a model column
    training: pl.DataFrame | None  # :func:`mean_training_curves` of DDT at the from-scratch β
    adaptive: pl.DataFrame | None  # :func:`mean_adaptive_beta` of DDT-adaptive
    sensitivity: pl.DataFrame  # DDT's sensitivity to ε and k
    categories: list[str]  # every category of the catalogue, sorted
    shares: dict[str, np.ndarray]  # legend label: share of top-k slots per category, before, after
    case: CaseStudy


def load_figure_data(
    layout: Layout, dataset: str, *, models: Sequence[str], k: int, scratch_beta: float
) -> FigureData:
    """The figures' data of ``dataset`` for ``models``, lists of length ``k``; the training curves
    compare DDT fine-tuned and from scratch at ``scratch_beta``."""
    summaries = read_summaries(layout, dataset, models)
    summary = pl.concat(
        [frame.with_columns(pl.lit(model).alias("model")) for model, frame in summaries.items()],
        how="diagonal_relaxed",
    )
    steps = pl.concat(
        [read_steps(layout, dataset, model) for model in models], how="diagonal_relaxed"
    )
    training = steps.filter(
        pl.col("method").is_in(["ddt", "ddt-scratch"]) & (pl.col("param") == scratch_beta)
    )
    adaptive = steps.filter(pl.col("method") == "ddt-adaptive")
    case = load_case_study(layout, dataset, CASE_MODEL if CASE_MODEL in models else models[0], k)
    categories = sorted(set(case.items["categories"].explode().drop_nulls().to_list()))
    labels = (f"{case.model.upper()}, {BY_KEY['base'].legend}", case_label(case))
    return FigureData(
        summary=summary,
        training=None if training.is_empty() else mean_training_curves(training),
        adaptive=None if adaptive.is_empty() else mean_adaptive_beta(adaptive),
        sensitivity=pl.read_parquet(layout.sensitivity(dataset)),
        categories=categories,
        shares={
            label: category_shares(slots, categories)
            for label, slots in zip(labels, (case.before, case.after), strict=True)
        },
        case=case,
    )


def plot_series(data: FigureData) -> dict[str, pl.DataFrame]:
    """The ``dvc plots`` series, by path under ``plots/`` without suffix: ``training/MODEL-REGIME``
    (progress, ddro, dro per step) and ``adaptive_beta/MODEL`` (beta and its band per step)."""
    series = {}
    for folder, frame, keys in (
        ("training", data.training, ["model", "regime"]),
        ("adaptive_beta", data.adaptive, ["model"]),
    ):
        if frame is not None:
            for values, group in frame.group_by(keys, maintain_order=True):
                series[f"{folder}/{'-'.join(map(str, values))}"] = group.drop(keys)
    return series


def read_steps(layout: Layout, dataset: str, model: str) -> pl.DataFrame:
    """The step logs of every run of ``model``, tagged with model, run, method, param, seed, regime."""
    frames = []
    for run, identity in read_runs(layout.runs(dataset, model)):
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


def mean_training_curves(steps: pl.DataFrame) -> pl.DataFrame:
    """Soft DDRO and hard DRO per step, mean over the runs (seeds) of each model and regime.

    ``steps``: columns model, regime, run, epoch, step, ddro, dro. Adds ``progress``, the step as a
    fraction of epochs (epoch − 1 + its position within the epoch), so that runs with different batch
    sizes share an axis.
    """
    frame = require_columns(
        steps, ["model", "regime", "run", "epoch", "step", "ddro", "dro"], "steps"
    )
    within = pl.col("step").rank("ordinal").over("model", "run", "epoch")
    count = pl.len().over("model", "run", "epoch")
    return (
        frame.with_columns(progress=pl.col("epoch") - 1 + within / count)
        .group_by("model", "regime", "step", maintain_order=True)
        .agg(pl.col("progress", "ddro", "dro").mean())
        .sort("step", maintain_order=True)
    )


def mean_adaptive_beta(steps: pl.DataFrame) -> pl.DataFrame:
    """β and its feasible band [beta_low, beta_high] per step, mean over the runs (seeds) of each model."""
    columns = ["beta", "beta_low", "beta_high"]
    frame = require_columns(steps, ["model", "step", *columns], "adaptive steps")
    return (
        frame.group_by("model", "step", maintain_order=True)
        .agg(pl.col(columns).mean())
        .sort("step", maintain_order=True)
    )


def load_case_study(layout: Layout, dataset: str, model: str, k: int) -> CaseStudy:
    """Every user's top-k of ``model`` before and after its :func:`case_run`."""
    chosen = case_run(read_runs(layout.runs(dataset, model)))
    if chosen is None:
        raise DivlibError(f"{layout.runs(dataset, model)} has no ddt run for the case study")
    run, identity = chosen
    items = pl.read_parquet(layout.items(dataset)).sort("item")
    train, val = load_splits(layout, dataset, "train", "val")
    never = train.seen() | val.seen()
    before, after = (
        _top_lists(path, never, k, items)
        for path in (layout.base(dataset, model), run / "selected.pt")
    )
    return CaseStudy(model, run.name, identity["param"], before, after, items)


def case_run(runs: Sequence[tuple[Path, dict]]) -> tuple[Path, dict] | None:
    """Of ``runs`` (folder, identity), the DDT run at β = CASE_BETA, seed CASE_SEED, else the first
    DDT run; None if there is no DDT run."""
    ddt = [(run, identity) for run, identity in runs if identity["method"] == "ddt"]
    preferred = [run for run in ddt if (run[1]["param"], run[1]["seed"]) == (CASE_BETA, CASE_SEED)]
    return (preferred or ddt or [None])[0]


def case_label(case: CaseStudy) -> str:
    """``"NMF, DDT β = 0.5"``: the case study's model and run, for a legend."""
    ddt = BY_KEY["ddt"]
    return f"{case.model.upper()}, {ddt.legend} {ddt.symbol} = {case.param:g}"


def case_study_markdown(case: CaseStudy, dataset: str, k: int) -> str:
    """The top-k before and after of the user whose pretrained list is most concentrated in one
    category (:func:`concentrated_user`), as a Markdown table under a heading."""
    user = concentrated_user(case.before)
    table = case_study(
        *(
            lists.filter(pl.col("user") == user)["item"].to_list()
            for lists in (case.before, case.after)
        ),
        case.items["title"].to_list(),
        case.items["categories"].to_list(),
    )
    heading = (
        f"# {dataset}, user {user}: top-{k} of {case.model.upper()} before and after {case.run}"
    )
    return to_markdown(frame_table(table, caption=heading))


def category_shares(slots: pl.DataFrame, names: Sequence[str]) -> np.ndarray:
    """Per category of ``names``: the share of the rows of ``slots`` whose ``categories`` hold it.

    A slot counts once for each category of its item, so the shares of a list sum to 1 or more.
    """
    counts = (
        require_columns(slots, ["categories"], "slots")
        .select(pl.col("categories").explode().drop_nulls())
        .group_by("categories")
        .len()
    )
    lookup = dict(counts.iter_rows())
    return np.array([lookup.get(name, 0) for name in names], dtype=float) / max(slots.height, 1)


def concentrated_user(lists: pl.DataFrame) -> int:
    """The user whose list has the largest share of slots in one category; the smallest id on ties.

    ``lists``: one row per slot, columns user and categories (a list per slot).
    """
    frame = require_columns(lists, ["user", "categories"], "lists")
    slots = frame.group_by("user").len("slots")
    top = (
        frame.explode("categories")
        .drop_nulls("categories")
        .group_by("user", "categories")
        .len()
        .group_by("user")
        .agg(pl.col("len").max().alias("top"))
    )
    shares = top.join(slots, on="user").with_columns(share=pl.col("top") / pl.col("slots"))
    if not shares.height:
        raise DivlibError("lists: no slot has a category; cannot pick a case-study user")
    return int(shares.sort(["share", "user"], descending=[True, False])["user"][0])


def case_study(
    items_before: Sequence[int],
    items_after: Sequence[int],
    titles: Sequence[str],
    categories: Sequence[Sequence[str]],
) -> pl.DataFrame:
    """One user's two top-k lists side by side: rank, then title and genres before and after.

    ``titles[i]`` and ``categories[i]`` describe item ``i``.
    """
    if len(items_before) != len(items_after):
        raise DivlibError(
            f"case study: lists of {len(items_before)} and {len(items_after)} items differ in length"
        )
    columns = {"rank": list(range(1, len(items_before) + 1))}
    for when, items in (("before", items_before), ("after", items_after)):
        columns[f"title_{when}"] = [titles[item] for item in items]
        columns[f"genres_{when}"] = [", ".join(categories[item]) for item in items]
    return pl.DataFrame(columns)


def require_columns(frame: pl.DataFrame, columns: list[str], what: str) -> pl.DataFrame:
    """``frame``, or a DivlibError naming the ``columns`` it lacks."""
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise DivlibError(f"{what}: missing columns {missing}; rerun the stage that writes it")
    return frame


@torch.no_grad()
def _top_lists(checkpoint: Path, never: torch.Tensor, k: int, items: pl.DataFrame) -> pl.DataFrame:
    """Every user's top-k of a model: user, rank, item, categories."""
    model, _ = load_model(checkpoint)
    top = topk_items(model.score_all(torch.arange(never.shape[0])), k=k, exclude=never)
    return long_lists(top).join(
        items.select(pl.col("item").cast(pl.Int64), "categories"), on="item", how="left"
    )
