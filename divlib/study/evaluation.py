r"""Evaluate ranked lists at several k, and summarise per-user values over users and seeds.

One list of length 2·max(k) per user serves every k: ranks 1..k are its prefix and the paper's
"k+1 ∼ 2k" the next k entries (a model's ranking, or a greedy re-ranker's selection, which is
prefix-consistent).

Summaries (:func:`summarize`): the mean over users (NaN-skipping, see :mod:`divlib.metrics`) per run,
then mean and sample std over seeds. Each seed pretrains its own model, so a run's gain over the
relevance-only model is taken against the base run of the same seed, then averaged over seeds (the
paper's Tables IV/VI report the absolute difference in percentage points; we keep both):

.. math:: g_s = x_s - b_s, \qquad g^{\%}_s = 100 \cdot \frac{x_s - b_s}{b_s},

with a paired two-sided Wilcoxon signed-rank test over users of the per-user differences (averaged over
seeds), per metric.

Aggregate diversity (item coverage, Gini index and entropy of item exposure,
:func:`divlib.metrics.aggregate_diversity`) is a value of all users' lists of a run, not of a user:
it has frames of its own, one row per run and k (``per_run``, :func:`aggregate_rows`), beside the
per-user ones (:class:`Evaluation`), and :func:`summarize` joins its mean (std) over seeds to the
summary of the same run settings (no gains or p-values: there is no user to pair).

:func:`evaluate_baselines` evaluates a pretrained model, its re-rankings and the anchors (most
popular, random; :func:`anchor_lists`), :func:`evaluate_models` fine-tuned runs.
"""

import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl
import scipy.stats
import torch
from torch import nn

from divlib.errors import DivlibError
from divlib.io import atomic_path
from divlib.metrics import (
    AGGREGATE_METRICS,
    POSITIVE_RATING,
    aggregate_diversity,
    average_popularity,
    distance_groups,
    hit_metrics,
    predicted_relevance_share,
    rank_test_items_at,
    rating_mse,
    window_coverage,
    window_diversity,
)
from divlib.models import load_model
from divlib.ranking import popular_items, random_items, topk_items
from divlib.rerank import Run, rerank_all
from divlib.similarity import GroupedDistance, ItemDistance, load_distance
from divlib.study.data import category_matrix
from divlib.study.layout import (
    HERE,
    Layout,
    check_list_lengths,
    load_splits,
    read_parquet,
    read_runs,
    run_file,
    seed_file,
)
from divlib.study.params import EVALUATED, Rerank

# one evaluated run: "param" is β, λ or θ (null if none); "train_k" the k a run was trained for (null
# for the pretrained models and the re-rankers); "seed" the grid seed (each seed has its own base model)
SETTING = ["method", "param", "train_k"]  # a run setting, summarised over its seeds
RUN_KEYS = [*SETTING, "seed"]
GAIN_METRICS = ("dro", "dro_beyond", "coverage", "relevance")
BASE = {"method": "base", "param": None, "train_k": None}  # the relevance-only model's run identity
PARAM_TOLERANCE = 1e-9  # two settings of β, λ or θ are one if they differ by less
BASELINES = "baselines"  # the evaluation of the pretrained models and their re-rankings
DEVICE = "cpu"  # the published lists and evaluations were computed on the CPU

log = logging.getLogger(__name__)


class Evaluation(NamedTuple):
    """The rows of evaluated runs: ``per_user``, one row per run, k and user (:func:`evaluate_lists`),
    and ``per_run``, one row per run and k, the aggregate diversity of all users' lists
    (:func:`aggregate_rows`); both with the run columns of :data:`RUN_KEYS`."""

    per_user: pl.DataFrame
    per_run: pl.DataFrame


def param_is(value: float) -> pl.Expr:
    """Rows whose ``param`` (β, λ or θ) is ``value``, up to float rounding."""
    return (pl.col("param") - value).abs() < PARAM_TOLERANCE


@dataclass(frozen=True)
class EvaluationData:
    """What the metrics need besides the lists, for a batch of users (all tensors on one device).

    Attributes:
        distance: item distance; categories: ``(m, c)`` 0/1; popularity: ``(m,)`` training counts.
        positives: ``(B, m)`` bool, test ratings >= 4; test_ratings: ``(B, m)``, NaN where no test rating.
    """

    distance: ItemDistance
    categories: torch.Tensor
    popularity: torch.Tensor
    positives: torch.Tensor
    test_ratings: torch.Tensor

    @property
    def n_items(self) -> int:
        """The catalogue's size m."""
        return self.popularity.shape[0]

    def to(self, device: torch.device | str) -> "EvaluationData":
        """A copy with every tensor on ``device``."""
        return EvaluationData(
            distance=self.distance.to(device),
            categories=self.categories.to(device),
            popularity=self.popularity.to(device),
            positives=self.positives.to(device),
            test_ratings=self.test_ratings.to(device),
        )

    @cached_property
    def distance_groups(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Each item's group and the distances between groups: a :class:`GroupedDistance`'s own, else
        :func:`divlib.metrics.distance_groups` of the dense matrix."""
        if isinstance(self.distance, GroupedDistance):
            return self.distance.groups, self.distance.group_distance
        return distance_groups(self.distance.dense())

    @cached_property
    def n_positives(self) -> torch.Tensor:
        """``(B,)`` each user's number of positive test items."""
        return self.positives.sum(dim=1)

    @cached_property
    def test_items(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, T)`` each user's test items in item order, then padding (T: the most test ratings of a
        user), and their ``(B, T)`` test ratings, NaN in the padding: the columns of ``test_ratings``
        that the test-item metrics read, without the rest of the catalogue."""
        rated = ~torch.isnan(self.test_ratings)
        width = max(int(rated.sum(dim=1).max()), 1)
        items = rated.to(torch.uint8).sort(dim=1, descending=True, stable=True).indices[:, :width]
        return items, self.test_ratings.gather(1, items)


def evaluate_lists(
    lists: torch.Tensor,
    predicted: torch.Tensor,
    data: EvaluationData,
    *,
    ks: list[int],
    scores: torch.Tensor | None = None,
) -> pl.DataFrame:
    """Per-user metrics of ``lists`` at every k in ``ks``: one row per (k, user).

    Every k reads windows of the same looked-up values (item distances, category counts, hits, the
    ranking of the test items), so the lists' items are looked up once for all ks.

    Args:
        lists: ``(B, K)`` item ids, best first, with K >= 2·max(ks).
        predicted: ``(B, K)`` the model's predicted ratings of those items (for the paper's relevance).
        scores: optional ``(B, m)`` full predicted scores; adds the paper's test-item HR, Precision and
            Recall (:func:`divlib.metrics.rank_test_items`), which rank scores, not lists, and the test
            MSE (:func:`divlib.metrics.rating_mse`), the same at every k.

    Returns:
        Columns k, user (row index), dro, dro_beyond, coverage, coverage_beyond, relevance, precision,
        recall, ndcg, popularity, and hr, precision_test, recall_test, mse when ``scores`` is given.
    """
    if lists.shape[1] < 2 * max(ks):
        raise DivlibError(
            f"lists hold {lists.shape[1]} items per user; evaluating k up to {max(ks)} needs "
            f"{2 * max(ks)} (ranks k+1..2k); make the lists longer or lower the largest k"
        )
    lists = lists[:, : 2 * max(ks)]
    windows = [(0, k) for k in ks] + [(k, 2 * k) for k in ks]  # ranks 1..k, then k+1..2k
    groups, group_distance = data.distance_groups
    dro = window_diversity(groups[lists], group_distance, windows)
    coverage = window_coverage(lists, data.categories, windows)
    found = hit_metrics(data.positives.gather(1, lists[:, : max(ks)]), data.n_positives, ks=ks)
    if scores is not None:
        items, ratings = data.test_items
        predicted_test = scores.gather(1, items)
        tested = rank_test_items_at(predicted_test, ratings, ks=ks)
        mse = rating_mse(predicted_test, ratings)
    columns: dict[str, list[torch.Tensor]] = {}
    for i, k in enumerate(ks):
        values = {
            "dro": dro[i],
            "dro_beyond": dro[len(ks) + i],
            "coverage": coverage[i],
            "coverage_beyond": coverage[len(ks) + i],
            "relevance": predicted_relevance_share(predicted[:, :k]),
            **found[k],
            "popularity": average_popularity(lists[:, :k], data.popularity),
        }
        if scores is not None:
            values |= tested[k] | {"mse": mse}
        for name, value in values.items():
            columns.setdefault(name, []).append(value)
    users = lists.shape[0]
    return pl.DataFrame(
        {
            "k": np.repeat(np.asarray(ks, dtype=np.int32), users),
            "user": np.tile(np.arange(users, dtype=np.int64), len(ks)),
            **{name: torch.cat(values).double().cpu().numpy() for name, values in columns.items()},
        }
    )


def aggregate_rows(lists: torch.Tensor, *, n_items: int, ks: list[int]) -> pl.DataFrame:
    """The aggregate diversity of all users' top k of ``lists`` (``(n_users, K)`` item ids, K >=
    max(ks)) over a catalogue of ``n_items``: one row per k of ``ks``, columns k, item_coverage,
    gini, entropy (:func:`divlib.metrics.aggregate_diversity`)."""
    values = aggregate_diversity(lists, n_items=n_items, ks=ks)
    return pl.DataFrame(
        {
            "k": np.asarray(ks, dtype=np.int32),
            **{name: [values[k][name] for k in ks] for name in AGGREGATE_METRICS},
        },
        schema_overrides={name: pl.Float64 for name in AGGREGATE_METRICS},
    )


def long_lists(lists: torch.Tensor) -> pl.DataFrame:
    """``(n_users, K)`` ranked item lists as rows (user, rank, item), rank 1 first."""
    users, length = lists.shape
    return pl.DataFrame(
        {
            "user": torch.arange(users).repeat_interleave(length).numpy(),
            "rank": torch.arange(1, length + 1).repeat(users).numpy(),
            "item": lists.flatten().numpy(),
        }
    )


def lists_frame(lists: Mapping[Run, torch.Tensor]) -> pl.DataFrame:
    """``{(method, param): (n_users, K) item ids}`` (CPU) as rows (method, param, user, rank, item),
    rank 1 = first selected; method String, param Float64 (null for none), the rest Int64."""
    return pl.concat(
        [
            long_lists(items).select(
                pl.lit(method).alias("method"),
                pl.lit(param, dtype=pl.Float64).alias("param"),
                pl.all(),
            )
            for (method, param), items in lists.items()
        ]
    )


def frame_lists(frame: pl.DataFrame) -> dict[Run, torch.Tensor]:
    """The inverse of :func:`lists_frame`: ``{(method, param): (n_users, K) int64 item ids}``, in the
    frame's order of (method, param)."""
    return {
        (method, param): torch.tensor(group.sort("user", "rank")["item"].to_numpy()).view(
            group["user"].n_unique(), -1
        )
        for (method, param), group in frame.group_by("method", "param", maintain_order=True)
    }


def evaluate_models(
    models: Iterable[tuple[dict, nn.Module]],
    data: EvaluationData,
    exclude: torch.Tensor,
    *,
    ks: list[int],
    device: torch.device | str = "cpu",
) -> Evaluation:
    """Per-user and per-run metrics of models, each on its own ranking: its top 2·max(ks) items
    outside ``exclude`` by score, with the test-item HR, Precision and Recall of its scores.

    Args:
        models: ``(identity, model)`` pairs, identity with the keys of :data:`RUN_KEYS`
            (:func:`load_runs`); every model is moved to ``device``.
        data: the metrics' inputs for all users; exclude: ``(n_users, m)`` bool, the items never
            ranked (rated in training or validation).

    Returns:
        The rows of :func:`evaluate_lists` and :func:`aggregate_rows` with the identity columns
        appended.
    """
    data, exclude = data.to(device), exclude.to(device)
    return _stacked(
        _model_rows(_scores(model, exclude.shape[0], device), identity, data, exclude, ks)
        for identity, model in models
    )


def evaluate_baselines(
    base: nn.Module,
    reranked: Mapping[Run, torch.Tensor],
    data: EvaluationData,
    exclude: torch.Tensor,
    *,
    seed: int,
    ks: list[int],
    device: torch.device | str = "cpu",
) -> Evaluation:
    """Per-user and per-run metrics of the model pretrained with ``seed`` (method ``base``), of its
    re-rankings and of the two anchors (:func:`anchor_lists`: ``popular``, ``random``), every list
    evaluated with that model's predicted ratings of its items.

    Args:
        reranked: ``{(method, param): (n_users, K) item ids}`` re-ranked from the model's candidates
            (:func:`divlib.rerank.rerank_all`), K >= 2·max(ks).

    Returns:
        The rows of :func:`evaluate_models` for the base model, then each re-ranking's, then the
        anchors' (their test-item and MSE columns null: they predict nothing).
    """
    data, exclude = data.to(device), exclude.to(device)
    base_scores = _scores(base, exclude.shape[0], device)
    evaluations = [_model_rows(base_scores, BASE | {"seed": seed}, data, exclude, ks)]
    lists = dict(reranked) | anchor_lists(data.popularity, exclude, seed=seed, length=2 * max(ks))
    for (method, param), items in lists.items():
        if items.shape[0] != exclude.shape[0]:
            raise DivlibError(
                f"the {method} lists hold {items.shape[0]} users; the model has {exclude.shape[0]}; "
                "rerun the rerank stage"
            )
        items = items.to(device)
        rows = evaluate_lists(items, base_scores.gather(1, items), data, ks=ks)
        aggregate = aggregate_rows(items, n_items=data.n_items, ks=ks)
        identity = {"method": method, "param": param, "train_k": None, "seed": seed}
        evaluations.append(Evaluation(_tag(rows, identity), _tag(aggregate, identity)))
    return _stacked(evaluations)


def anchor_lists(
    popularity: torch.Tensor, exclude: torch.Tensor, *, seed: int, length: int
) -> dict[Run, torch.Tensor]:
    """The anchors' lists, which make ground-truth numbers readable (RecBole, LensKit and Elliot
    report them): ``("popular", None)``, the most popular items by training interactions
    (:func:`divlib.ranking.popular_items`), and ``("random", None)``, a uniformly random order
    (:func:`divlib.ranking.random_items`) drawn from a generator seeded with the grid ``seed``: one
    order per seed, the same on a rerun (on one device), made on the device of ``exclude``.

    Args:
        popularity: ``(m,)`` training interactions per item; exclude: ``(n_users, m)`` bool, items
            never listed; length: items per list.

    Returns:
        ``{(method, None): (n_users, length) int64 item ids}``, on the device of ``exclude``.
    """
    generator = torch.Generator(exclude.device).manual_seed(seed)
    return {
        ("popular", None): popular_items(popularity, k=length, exclude=exclude),
        ("random", None): random_items(k=length, exclude=exclude, generator=generator),
    }


def dgrec_lists(
    layout: Layout, dataset: str, seed: int, exclude: torch.Tensor, *, length: int
) -> dict[Run, torch.Tensor]:
    """``{("dgrec", None): (n_users, length) item ids}``: the top items outside ``exclude`` of the
    DGRec trained with ``seed`` (the ``dgrec`` stage), judged like a re-ranking by the base model."""
    dgrec, _ = load_model(seed_file(layout.dgrec(dataset), seed))
    scores = _scores(dgrec, exclude.shape[0], DEVICE)
    return {("dgrec", None): topk_items(scores, k=length, exclude=exclude.to(DEVICE))}


def load_runs(folder: Path) -> Iterator[tuple[dict, nn.Module]]:
    """The fine-tuned runs under ``folder``, one at a time in name order: the identity
    (:data:`RUN_KEYS`) of each run's ``run.json`` and the model of its ``selected.pt``."""
    for run, identity in read_runs(folder):
        model, _ = load_model(run_file(run, "selected"))
        yield {key: identity[key] for key in RUN_KEYS}, model


def run_means(per_user: pl.DataFrame) -> pl.DataFrame:
    """The mean over users of every metric, per run (grouping columns and :data:`RUN_KEYS`), users
    without a value (NaN: no test positives, no test ratings) skipped; ``users`` counts the users with
    a DRO, ``users_with_positives`` those who count in precision, recall and NDCG."""
    metrics, groups = _metric_columns(per_user)
    return (
        per_user.with_columns(pl.col(metrics).fill_nan(None))
        .group_by(groups + RUN_KEYS, maintain_order=True)
        .agg(
            *[pl.col(m).mean() for m in metrics],
            pl.col("dro").count().alias("users"),
            pl.col("recall").count().alias("users_with_positives"),
        )
    )


def summarize(
    per_user: pl.DataFrame, *, base: str = "base", per_run: pl.DataFrame | None = None
) -> pl.DataFrame:
    r"""Mean (std) over seeds of the per-run user means (:func:`run_means`), with gains paired by seed
    and p-values paired by user against ``base``; and of the per-run aggregate diversity, if given.

    With :math:`x_s` a run's mean over users with seed s and :math:`b_s` that of the ``base`` run with
    the same seed (each seed pretrains its own model), the gain of seed s is

    .. math:: g_s = x_s - b_s, \qquad g^{\%}_s = 100 \cdot (x_s - b_s) / b_s,

    reported as their mean over seeds and, for :math:`g_s`, their sample std over seeds (the paper's
    Tables IV/VI: "mean (std)" of the gains). The p-value is a two-sided Wilcoxon signed-rank test over
    users of :math:`x_{us} - b_{us}`, averaged over the run's seeds.

    Args:
        per_user: rows of :func:`evaluate_lists` with the run columns of :data:`RUN_KEYS` added (and
            any further grouping columns such as dataset and model, kept as they are).
        base: the method of the relevance-only model; every run needs a base run of its own seed.
        per_run: rows of :func:`aggregate_rows` of the same runs (and grouping columns), one per run
            and k; None: the summary has no aggregate columns.

    Returns:
        One row per (group, method, param, train_k, k): ``{metric}`` (mean over seeds),
        ``{metric}_std`` (over seeds; null for a single seed), ``seeds``, ``users`` and
        ``users_with_positives``; for the metrics of ``GAIN_METRICS``, ``{metric}_gain`` and
        ``{metric}_gain_std`` (absolute), ``{metric}_gain_pct`` and ``{metric}_p`` (null for the base
        itself); with ``per_run``, ``{aggregate}`` and ``{aggregate}_std`` over seeds for each of
        :data:`divlib.metrics.AGGREGATE_METRICS`.

    Raises:
        DivlibError: ``per_run`` and ``per_user`` hold different runs.
    """
    missing = [key for key in RUN_KEYS if key not in per_user.columns]
    if missing:
        raise DivlibError(f"per-user rows lack the run columns {missing}; rerun the evaluate stage")
    if base not in per_user["method"].unique().to_list():
        raise DivlibError(f"no rows of the base method {base!r} to compare with")
    metrics, groups = _metric_columns(per_user)
    gains = [f"{m}_gain" for m in GAIN_METRICS]
    runs = _paired_gains(run_means(per_user), groups, base)
    summary = runs.group_by(groups + SETTING, maintain_order=True).agg(
        *[pl.col(m).mean() for m in metrics],
        *[pl.col(m).std().alias(f"{m}_std") for m in metrics],
        pl.len().alias("seeds"),
        pl.col("users", "users_with_positives").min(),
        *[pl.col(g).mean() for g in gains],
        *[pl.col(g).std().alias(f"{g}_std") for g in gains],
        *[pl.col(f"{m}_gain_pct").mean() for m in GAIN_METRICS],
    )
    pvalues = _paired_pvalues(per_user.with_columns(pl.col(metrics).fill_nan(None)), groups, base)
    summary = summary.join(pvalues, on=groups + SETTING, how="left", nulls_equal=True)
    if per_run is None:
        return summary
    _check_same_runs(per_user, per_run, groups)
    aggregates = per_run.group_by(groups + SETTING).agg(
        *[pl.col(m).mean() for m in AGGREGATE_METRICS],
        *[pl.col(m).std().alias(f"{m}_std") for m in AGGREGATE_METRICS],
    )
    return summary.join(
        aggregates, on=groups + SETTING, how="left", nulls_equal=True, maintain_order="left"
    )


def _check_same_runs(per_user: pl.DataFrame, per_run: pl.DataFrame, groups: list[str]) -> None:
    """A DivlibError unless ``per_run`` has one row per run (and k) of ``per_user``, and no other."""
    keys = groups + RUN_KEYS
    runs = per_user.select(keys).unique()
    extra, missing = (
        a.select(keys).join(b, on=keys, how="anti", nulls_equal=True)
        for a, b in ((per_run, runs), (runs, per_run.select(keys)))
    )
    if extra.height or missing.height or per_run.select(keys).is_duplicated().any():
        raise DivlibError(
            f"the per-run rows ({per_run.height}) are not one per run and k of the per-user rows "
            f"({runs.height}: {missing.height} missing, {extra.height} extra); rerun the evaluate "
            "stage, and read both at the same seeds"
        )


def _metric_columns(per_user: pl.DataFrame) -> tuple[list[str], list[str]]:
    """The metric columns (Float64, but param) and the grouping columns (the rest, but the run keys and
    user) of per-user rows."""
    metrics = [c for c in per_user.columns if per_user[c].dtype == pl.Float64 and c != "param"]
    groups = [c for c in per_user.columns if c not in metrics + RUN_KEYS + ["user"]]
    return metrics, groups


def _paired_gains(runs: pl.DataFrame, groups: list[str], base: str) -> pl.DataFrame:
    """``runs`` with ``{metric}_gain`` and ``{metric}_gain_pct`` against the ``base`` run of the same
    group and seed; a DivlibError if a run has no such base run, or a seed has several."""
    keys = groups + ["seed"]
    reference = runs.filter(pl.col("method") == base)
    if reference.select(keys).is_duplicated().any():
        raise DivlibError(f"several {base!r} runs share a group and seed; evaluate each seed once")
    unpaired = runs.join(reference, on=keys, how="anti")
    if not unpaired.is_empty():
        raise DivlibError(
            f"no {base!r} run for seed(s) {sorted(unpaired['seed'].unique().to_list())}: every run is "
            "compared with the model pretrained with its seed; evaluate the baselines with every seed"
        )
    reference = reference.select(*keys, *[pl.col(m).alias(f"{m}_base") for m in GAIN_METRICS])
    return (
        runs.join(reference, on=keys, how="left", maintain_order="left")
        .with_columns(
            *[(pl.col(m) - pl.col(f"{m}_base")).alias(f"{m}_gain") for m in GAIN_METRICS],
            *[
                (100 * (pl.col(m) - pl.col(f"{m}_base")) / pl.col(f"{m}_base")).alias(
                    f"{m}_gain_pct"
                )
                for m in GAIN_METRICS
            ],
        )
        .drop([f"{m}_base" for m in GAIN_METRICS])
    )


@torch.no_grad()
def _scores(model: nn.Module, n_users: int, device: torch.device | str) -> torch.Tensor:
    """``(n_users, m)`` scores of ``model`` (moved to ``device``) for every user."""
    return model.to(device).score_all(torch.arange(n_users, device=device))


def _model_rows(
    scores: torch.Tensor, identity: dict, data: EvaluationData, exclude: torch.Tensor, ks: list[int]
) -> Evaluation:
    """Per-user metrics of a model's own ranking (and the paper's test-item HR/Precision/Recall),
    and its aggregate diversity."""
    items = topk_items(scores, k=2 * max(ks), exclude=exclude)
    rows = evaluate_lists(items, scores.gather(1, items), data, ks=ks, scores=scores)
    aggregate = aggregate_rows(items, n_items=data.n_items, ks=ks)
    return Evaluation(_tag(rows, identity), _tag(aggregate, identity))


def _stacked(evaluations: Iterable[Evaluation]) -> Evaluation:
    """The per-user and per-run rows of ``evaluations``, each stacked (empty frames if none)."""
    parts = list(evaluations)
    if not parts:
        return Evaluation(pl.DataFrame(), pl.DataFrame())
    return Evaluation(
        *(pl.concat(frames, how="diagonal_relaxed") for frames in zip(*parts, strict=True))
    )


def _tag(frame: pl.DataFrame, identity: dict) -> pl.DataFrame:
    """``frame`` with the run's method, param (Float64), train_k and seed (Int64) appended."""
    return frame.with_columns(
        pl.lit(identity["method"]).alias("method"),
        pl.lit(identity["param"], dtype=pl.Float64).alias("param"),
        pl.lit(identity["train_k"], dtype=pl.Int64).alias("train_k"),
        pl.lit(identity["seed"], dtype=pl.Int64).alias("seed"),
    )


def _paired_pvalues(per_user: pl.DataFrame, groups: list[str], base: str) -> pl.DataFrame:
    """Two-sided Wilcoxon signed-rank p-values, per run setting against ``base``, paired by user: each
    user's differences to the base run of the same seed, averaged over seeds."""
    keys = groups + ["seed", "user"]
    reference = per_user.filter(pl.col("method") == base).select(
        *keys, *[pl.col(m).alias(f"{m}_base") for m in GAIN_METRICS]
    )
    differences = (
        per_user.join(reference, on=keys, maintain_order="left")
        .group_by(groups + SETTING + ["user"], maintain_order=True)
        .agg(*[(pl.col(m) - pl.col(f"{m}_base")).mean() for m in GAIN_METRICS])
    )
    rows = []
    for key, frame in differences.group_by(groups + SETTING, maintain_order=True):
        row = dict(zip(groups + SETTING, key, strict=True))
        for metric in GAIN_METRICS:
            difference = frame[metric].drop_nulls().drop_nans().to_numpy()
            testable = row["method"] != base and (difference != 0).any()
            row[f"{metric}_p"] = (
                float(scipy.stats.wilcoxon(difference).pvalue) if testable else None
            )
        rows.append(row)
    schema = {c: per_user.schema[c] for c in groups + SETTING}
    return pl.DataFrame(rows, schema_overrides=schema)


def load_evaluation(layout: Layout, dataset: str) -> tuple[EvaluationData, torch.Tensor]:
    """Everything :func:`evaluate_lists` needs for all users of ``dataset``, and the
    ``(n_users, m)`` mask of the items never recommended (rated in training or validation)."""
    train, val, test = load_splits(layout, dataset, "train", "val", "test")
    categories, _ = category_matrix(read_parquet(layout.items(dataset)))
    test_ratings = torch.full((test.n_users, test.n_items), float("nan"))
    test_ratings[test.users, test.items] = test.ratings
    data = EvaluationData(
        distance=load_distance(layout.distance(dataset)),
        categories=categories,
        popularity=torch.bincount(train.items, minlength=train.n_items),
        positives=test_ratings >= POSITIVE_RATING,
        test_ratings=test_ratings,
    )
    return data, train.seen() | val.seen()


# The stages' work: each function below is the one call of a stage script (stages/*.py).


def rerank_baselines(
    section: Rerank,
    seeds: list[int],
    ks: list[int],
    *,
    dataset: str,
    model: str,
    layout: Layout = HERE,
) -> None:
    """The ``rerank`` stage: each seed's pretrained model re-ranked with MMR, DUM and DPP
    (:func:`divlib.rerank.rerank_all`: the trade-off grids of ``section`` over each user's top
    ``section.pool`` candidates, and the paper's parametrisation), 2·max(``ks``) items per user
    (greedy selections are prefix-consistent, so every k reads a prefix). Writes
    ``data/rerank/D/M/lists.parquet`` (seed, method, param, user, rank, item)."""
    data, never = load_evaluation(layout, dataset)
    lengths = {EVALUATED: 2 * max(ks), "rerank.pool": section.pool}
    check_list_lengths(lengths, never, excluded="training or validation")
    start = time.perf_counter()
    frames = []
    for seed in seeds:
        network, _ = load_model(layout.base(dataset, model, seed))
        lists = rerank_all(
            network,
            never,
            data.distance,
            data.categories,
            pool=section.pool,
            length=2 * max(ks),
            mmr_lambdas=section.mmr_lambdas,
            dpp_thetas=section.dpp_thetas,
            device=DEVICE,
        )
        frames.append(lists_frame(lists).select(pl.lit(seed).alias("seed"), pl.all()))
    with atomic_path(layout.rerank(dataset, model)) as temporary:
        pl.concat(frames).write_parquet(temporary)
    log.info(
        "%s/%s: %d seeds re-ranked in %.1f s",
        dataset,
        model,
        len(frames),
        time.perf_counter() - start,
    )


def evaluate_experiment(
    experiment: str,
    ks: list[int],
    seeds: list[int],
    *,
    dataset: str,
    model: str,
    layout: Layout = HERE,
) -> None:
    """The ``evaluate`` stage: the runs of ``experiment`` on one dataset × model at every k of
    ``ks``, or (:data:`BASELINES`) each seed's pretrained model (method ``base``), the
    re-rankers' lists of it and the DGRec lists of the same seed (:func:`dgrec_lists`). Lists are
    ranked over the items a user did not rate in training or validation. Writes
    ``data/evaluation/D/M/E/per_user.parquet`` (one row per run, k and user), ``per_run.parquet``
    (one row per run and k: :func:`aggregate_rows`) and ``summary.parquet`` (:func:`summarize` of
    both, against the pretrained models, which an experiment's summary includes). ``seeds``: the
    pretrained models' (the runs' seeds are in their run.json)."""
    start = time.perf_counter()
    data, never = load_evaluation(layout, dataset)
    check_list_lengths({EVALUATED: 2 * max(ks)}, never, excluded="training or validation")
    if experiment == BASELINES:
        lists = read_parquet(layout.rerank(dataset, model))
        evaluations = []
        for seed in seeds:
            base, _ = load_model(layout.base(dataset, model, seed))
            reranked = frame_lists(lists.filter(pl.col("seed") == seed).drop("seed"))
            reranked |= dgrec_lists(layout, dataset, seed, never, length=2 * max(ks))
            evaluations.append(
                evaluate_baselines(base, reranked, data, never, seed=seed, ks=ks, device=DEVICE)
            )
        per_user, per_run = (_tagged(frame, dataset, model) for frame in _stacked(evaluations))
        compared, compared_runs = per_user, per_run
    else:
        runs = load_runs(layout.runs(dataset, model, experiment))
        evaluation = evaluate_models(runs, data, never, ks=ks, device=DEVICE)
        per_user, per_run = (_tagged(frame, dataset, model) for frame in evaluation)
        compared = _with_bases(layout.per_user(dataset, model, BASELINES), per_user)
        compared_runs = _with_bases(layout.per_run(dataset, model, BASELINES), per_run)
    summary = summarize(compared, per_run=compared_runs)
    for frame, path in (
        (per_user, layout.per_user(dataset, model, experiment)),
        (per_run, layout.per_run(dataset, model, experiment)),
        (summary, layout.summary(dataset, model, experiment)),
    ):
        with atomic_path(path) as temporary:
            frame.write_parquet(temporary)
    log.info(
        "%s/%s/%s: %d settings evaluated in %.1f s",
        dataset,
        model,
        experiment,
        summary.filter(pl.col("k") == ks[0]).height,
        time.perf_counter() - start,
    )


def _with_bases(baselines: Path, rows: pl.DataFrame) -> pl.DataFrame:
    """The ``base`` rows of the ``baselines`` file, then ``rows``."""
    bases = read_parquet(baselines).filter(pl.col("method") == BASE["method"])
    return pl.concat([bases, rows], how="diagonal_relaxed")


def _tagged(rows: pl.DataFrame, dataset: str, model: str) -> pl.DataFrame:
    return rows.select(pl.lit(dataset).alias("dataset"), pl.lit(model).alias("model"), pl.all())
