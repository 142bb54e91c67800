"""The data behind the figures, read from the pipeline's outputs and aggregated: what :mod:`divlib.study.plots`
draws.

Each figure reads one experiment (a params.yaml section, :data:`divlib.study.params.EXPERIMENTS`):

* Fig. 1 and 4 (Q1) and the trade-off: the ``beta_sweep`` evaluation summaries, means and stds over
  seeds (:func:`~divlib.study.readers.read_summaries`), the aggregate diversity (item coverage)
  included; the trade-off adds the ``baselines`` summaries (the pretrained models and the
  re-rankers).
* The Pareto figures (Q2): the per-user rows of the ``baselines`` and ``main_table`` at the
  main_table runs' seeds (:func:`~divlib.study.readers.matched_per_user`), averaged per run
  (:func:`~divlib.study.evaluation.run_means`).
* Fig. 2 (Q4): the ``training_curves`` runs' per-epoch DDRO and DRO@k of the monitored users
  (:func:`~divlib.study.readers.training_curves`), averaged over seeds (:func:`mean_curves`).
* Lemma 3: the ``adaptive_beta`` runs' β per step and its feasible interval (:func:`~divlib.study.readers.adaptive_steps`,
  :func:`mean_adaptive`).
* Table V and the category histogram: the first seed's ``main_table`` DDT run at the chosen β (the
  first of ``main_table.betas``, as the headline metrics) and that seed's pretrained model, every
  user's top-k before and after (:func:`load_case_study`). Top-k lists rank the items a user
  did not rate in training or validation, as in the evaluation. Table V shows one user, chosen by a
  rule of params.yaml's ``case_study`` (:data:`CASE_RULES`, :func:`case_user`) from each user's
  training ratings and DRO@k before and after (:func:`case_users`), and named in its caption.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import torch

from divlib.errors import DivlibError
from divlib.models import load_model
from divlib.ranking import topk_items
from divlib.study.evaluation import BASELINES, PARAM_TOLERANCE, long_lists, param_is, run_means
from divlib.study.layout import Layout, load_splits, read_parquet, read_runs, run_file
from divlib.study.methods import BY_KEY
from divlib.study.params import CASE_RULES
from divlib.study.readers import (
    BAND,
    adaptive_steps,
    matched_per_user,
    read_summaries,
    require_columns,
    training_curves,
)
from divlib.study.render import Table, frame_table

CASE_EXPERIMENT = "main_table"  # the experiment whose DDT run the case study shows
CURVE_KEYS = ["model", "method", "regime", "seed"]  # one training_curves run
ADAPTIVE_KEYS = ["model", "method", "seed"]  # one adaptive_beta run


@dataclass(frozen=True)
class CaseStudy:
    """One model's case-study DDT run and every user's top-k before (the model pretrained with the
    run's seed) and after it.

    ``before``, ``after``: one row per slot (user, rank, item, categories); ``items``: the catalogue
    (item, title, categories), sorted by item; ``seed``: the run's seed.
    """

    model: str
    run: str
    param: float
    before: pl.DataFrame
    after: pl.DataFrame
    items: pl.DataFrame
    seed: int


@dataclass(frozen=True)
class FigureData:
    """Everything the figures of one dataset show."""

    sweep: pl.DataFrame  # beta_sweep summaries (DDT, MDR over β; the pretrained model), by model
    tradeoff: pl.DataFrame  # the sweep's DDT and MDR rows, the baselines' (pretrained, re-rankers)
    pareto: pl.DataFrame  # Q2: per-run means of the baselines and main_table at its seeds
    curves: pl.DataFrame  # :func:`mean_curves` of the training_curves runs
    adaptive: pl.DataFrame  # :func:`mean_adaptive` of the adaptive_beta runs
    sensitivity: pl.DataFrame  # DDT's sensitivity to ε and k
    categories: list[str]  # every category of the catalogue, sorted
    shares: dict[str, np.ndarray]  # legend label: share of top-k slots per category, before, after


def load_figure_data(
    layout: Layout,
    dataset: str,
    *,
    sweep: Sequence[str],
    curves: Sequence[str],
    adaptive: Sequence[str],
    main: Sequence[str],
    case: str,
    beta: float,
    k: int,
) -> FigureData:
    """The figures' data of ``dataset``: the models of the β sweep (``sweep``), of the training curves
    (``curves``), of the adaptive-β runs (``adaptive``) and of Table III (``main``: the Pareto
    figures, at k, over the seeds the main_table runs have); the case study of model ``case`` at
    β = ``beta``, lists of length ``k``."""
    summary = read_summaries(layout, dataset, sweep, "beta_sweep")
    baselines = read_summaries(layout, dataset, sweep, BASELINES)
    study = load_case_study(layout, dataset, case, k, beta=beta)
    categories = sorted(set(study.items["categories"].explode().drop_nulls().to_list()))
    labels = (f"{study.model.upper()}, {BY_KEY['base'].legend}", case_label(study))
    return FigureData(
        sweep=summary,
        tradeoff=pl.concat(
            [baselines, summary.filter(pl.col("method") != "base")], how="diagonal_relaxed"
        ),
        pareto=run_means(matched_per_user(layout, dataset, main, k=k)),
        curves=mean_curves(training_curves(layout, dataset, curves)),
        adaptive=mean_adaptive(adaptive_steps(layout, dataset, adaptive)),
        sensitivity=read_parquet(layout.sensitivity(dataset)),
        categories=categories,
        shares={
            label: category_shares(slots, categories)
            for label, slots in zip(labels, (study.before, study.after), strict=True)
        },
    )


def mean_curves(curves: pl.DataFrame) -> pl.DataFrame:
    """DDRO and DRO@k per epoch, mean and std over the seeds of each model, method and regime (std null
    for one seed), in the order of ``curves`` (:func:`~divlib.study.readers.training_curves`)."""
    frame = require_columns(curves, [*CURVE_KEYS, "epoch", "ddro", "dro"], "training curves")
    return frame.group_by([*CURVE_KEYS[:-1], "epoch"], maintain_order=True).agg(
        pl.col("ddro", "dro").mean(), pl.col("ddro", "dro").std().name.suffix("_std")
    )


def mean_adaptive(steps: pl.DataFrame) -> pl.DataFrame:
    """β and its feasible interval [beta_low, beta_high] per step, means over the seeds of each model
    and method (the mean β stays inside the mean interval), in the order of ``steps``
    (:func:`adaptive_steps`)."""
    frame = require_columns(steps, [*ADAPTIVE_KEYS, "step", *BAND], "adaptive steps")
    return frame.group_by([*ADAPTIVE_KEYS[:-1], "step"], maintain_order=True).agg(
        pl.col(BAND).mean()
    )


def load_case_study(layout: Layout, dataset: str, model: str, k: int, *, beta: float) -> CaseStudy:
    """Every user's top-k of ``model`` before and after its :func:`case_run` at β = ``beta`` (of the
    ``main_table`` runs), "before" being the model pretrained with the run's seed."""
    folder = layout.runs(dataset, model, CASE_EXPERIMENT)
    chosen = case_run(read_runs(folder), beta)
    if chosen is None:
        raise DivlibError(
            f"{folder} has no ddt run at β = {beta:g} for the case study; "
            "run the main_table experiment with that β first"
        )
    run, identity = chosen
    items = read_parquet(layout.items(dataset)).sort("item")
    train, val = load_splits(layout, dataset, "train", "val")
    never = train.seen() | val.seen()
    before, after = (
        _top_lists(path, never, k, items)
        for path in (layout.base(dataset, model, identity["seed"]), run_file(run, "selected"))
    )
    return CaseStudy(model, run.name, identity["param"], before, after, items, identity["seed"])


def case_run(runs: Sequence[tuple[Path, dict]], beta: float) -> tuple[Path, dict] | None:
    """Of ``runs`` (folder, identity), the DDT run at β = ``beta`` of the first (smallest) seed;
    None if there is none (never another β: the caller names what is missing)."""
    ddt = [
        (run, identity)
        for run, identity in runs
        if identity["method"] == "ddt" and abs(identity["param"] - beta) < PARAM_TOLERANCE
    ]
    return min(ddt, key=lambda run: run[1]["seed"], default=None)


def case_users(layout: Layout, dataset: str, case: CaseStudy, k: int) -> pl.DataFrame:
    """Per user of ``dataset``: ``train_ratings`` and DRO@k of the top-k ``before`` (the pretrained
    model of the case run's seed) and ``after`` (the case run), read from the evaluation's per-user
    rows (``baselines`` and ``main_table``), whose lists are those of the case study."""
    (train,) = load_splits(layout, dataset, "train")
    counts = torch.bincount(train.users, minlength=train.n_users)
    runs = {"before": (BASELINES, "base", None), "after": (CASE_EXPERIMENT, "ddt", case.param)}
    users = pl.DataFrame({"user": np.arange(train.n_users), "train_ratings": counts.numpy()})
    for when, (experiment, method, param) in runs.items():
        path = layout.per_user(dataset, case.model, experiment)
        if not path.is_file():
            raise DivlibError(f"{path} is missing: run the evaluate stage of {experiment} first")
        columns = ["k", "user", "dro", "method", "param", "seed"]
        rows = require_columns(read_parquet(path), columns, str(path))
        rows = rows.filter(
            (pl.col("k") == k) & (pl.col("method") == method) & (pl.col("seed") == case.seed)
        )
        if param is not None:
            rows = rows.filter(param_is(param))
        if rows.is_empty():
            raise DivlibError(
                f"{path}: no {method} rows of seed {case.seed} at k = {k}; rerun its evaluate stage"
            )
        dro = rows.select(pl.col("user").cast(pl.Int64), pl.col("dro").alias(f"dro_{when}"))
        users = users.join(dro, on="user", how="left")
    return users


def case_user(
    users: pl.DataFrame, before: pl.DataFrame, *, rule: str, min_train_ratings: int, k: int
) -> tuple[int, str]:
    """Table V's user by ``rule`` (a key of :data:`CASE_RULES`) among the users with at least
    ``min_train_ratings`` training ratings, the smallest id on ties; and why, as the caption states
    it ("with the largest DRO@10 gain (+0.328: 0.672 → 1.000) among the 730 users with ≥ 20
    training ratings").

    Args:
        users: :func:`case_users`; before: every user's pretrained top-k (user, categories).
    """
    if rule not in CASE_RULES:
        raise DivlibError(f"case_study.rule {rule!r} is not a rule; use one of {list(CASE_RULES)}")
    eligible = users.filter(pl.col("train_ratings") >= min_train_ratings)
    if eligible.is_empty():
        raise DivlibError(
            f"case_study.min_train_ratings = {min_train_ratings}: no user has that many training "
            f"ratings (the most: {users['train_ratings'].max()}); lower it in params.yaml"
        )
    among = f"among the {eligible.height} users with ≥ {min_train_ratings} training ratings"
    if rule == "most-concentrated":
        lists = before.filter(pl.col("user").is_in(eligible["user"].implode()))
        user, share = concentrated_user(lists, with_share=True)
        return user, (
            f"whose pretrained list is the most concentrated in one genre ({share:.0%} of its "
            f"slots) {among}"
        )
    gain = (pl.col("dro_after") - pl.col("dro_before")).alias("gain")
    gains = eligible.with_columns(gain).drop_nulls("gain")
    if gains.is_empty():
        raise DivlibError("case study: no eligible user has DRO@k before and after; rerun evaluate")
    best = gains.sort(["gain", "user"], descending=[True, False]).row(0, named=True)
    return best["user"], (
        f"with the largest DRO@{k} gain ({best['gain']:+.3f}: {best['dro_before']:.3f} → "
        f"{best['dro_after']:.3f}) {among}"
    )


def case_label(case: CaseStudy) -> str:
    """``"NMF, DDT β = 0.2"``: the case study's model and run, for a legend."""
    ddt = BY_KEY["ddt"]
    return f"{case.model.upper()}, {ddt.legend} {ddt.symbol} = {case.param:g}"


def case_study_table(case: CaseStudy, dataset: str, k: int, *, user: int, reason: str) -> Table:
    """Table V: the top-k of ``user`` before and after, the caption naming why that user
    (``reason``, from :func:`case_user`)."""
    table = case_study(
        *(
            lists.filter(pl.col("user") == user)["item"].to_list()
            for lists in (case.before, case.after)
        ),
        case.items["title"].to_list(),
        case.items["categories"].to_list(),
    )
    caption = (
        f"{dataset}, user {user}, {reason} (the rule of params.yaml case_study): top-{k} of "
        f"{case.model.upper()} before and after {case.run}"
    )
    return frame_table(table, caption=caption)


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


def concentrated_user(lists: pl.DataFrame, *, with_share: bool = False) -> int | tuple[int, float]:
    """The user whose list has the largest share of slots in one category; the smallest id on ties
    (and that share, if ``with_share``).

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
    top = shares.sort(["share", "user"], descending=[True, False]).row(0, named=True)
    return (int(top["user"]), float(top["share"])) if with_share else int(top["user"])


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


@torch.no_grad()
def _top_lists(checkpoint: Path, never: torch.Tensor, k: int, items: pl.DataFrame) -> pl.DataFrame:
    """Every user's top-k of a model: user, rank, item, categories."""
    model, _ = load_model(checkpoint)
    top = topk_items(model.score_all(torch.arange(never.shape[0])), k=k, exclude=never)
    return long_lists(top).join(
        items.select(pl.col("item").cast(pl.Int64), "categories"), on="item", how="left"
    )
