r"""Evaluate ranked lists at several k, and summarise per-user values over users and seeds.

One list of length 2·max(k) per user serves every k: ranks 1..k are its prefix and the paper's
"k+1 ∼ 2k" the next k entries (a model's ranking, or a greedy re-ranker's selection, which is
prefix-consistent).

Summaries (:func:`summarize`): the mean over users (NaN-skipping, see :mod:`divlib.metrics`) per run,
then mean and sample std over seeds. Diversity gain of a method over the relevance-only model (the
paper's Tables IV/VI report the absolute difference in percentage points; we keep both):

.. math:: \mathrm{gain}_{abs} = \overline{x} - \overline{x}_{base}, \qquad
          \mathrm{gain}_{\%} = 100 \cdot \frac{\overline{x} - \overline{x}_{base}}{\overline{x}_{base}}

and a paired two-sided Wilcoxon signed-rank test over users of the method's per-user values (averaged over
seeds) against the base model's, per metric.

:func:`evaluate_runs` evaluates one pretrained model, its fine-tuned runs and its re-rankings;
:func:`reported_metrics` is the summary at one k as ``{run label: {metric@k: value}}`` for metrics files.
"""

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import scipy.stats
import torch
from torch import nn

from divlib.errors import DivlibError
from divlib.layout import read_runs
from divlib.metrics import (
    REPORTED,
    average_popularity,
    category_coverage,
    list_diversity,
    metric_name,
    precision_recall_ndcg,
    predicted_relevance_share,
    rank_test_items,
)
from divlib.models import load_model
from divlib.ranking import topk_items
from divlib.similarity import ItemDistance

RUN_KEYS = ["method", "param", "seed"]  # one evaluated run; "param" is β, λ or θ (null if none)
GAIN_METRICS = ("dro", "dro_beyond", "coverage", "relevance")
BASE = {"method": "base", "param": None, "seed": 0}  # the relevance-only model's run identity


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

    def to(self, device: torch.device | str) -> "EvaluationData":
        """A copy with every tensor on ``device``."""
        return EvaluationData(
            distance=self.distance.to(device), categories=self.categories.to(device),
            popularity=self.popularity.to(device), positives=self.positives.to(device),
            test_ratings=self.test_ratings.to(device),
        )  # fmt: skip


def evaluate_lists(
    lists: torch.Tensor,
    predicted: torch.Tensor,
    data: EvaluationData,
    *,
    ks: list[int],
    scores: torch.Tensor | None = None,
) -> pl.DataFrame:
    """Per-user metrics of ``lists`` at every k in ``ks``: one row per (k, user).

    Args:
        lists: ``(B, K)`` item ids, best first, with K >= 2·max(ks).
        predicted: ``(B, K)`` the model's predicted ratings of those items (for the paper's relevance).
        scores: optional ``(B, m)`` full predicted scores; adds the paper's test-item HR, Precision and
            Recall (:func:`divlib.metrics.rank_test_items`), which rank scores, not lists.

    Returns:
        Columns k, user (row index), dro, dro_beyond, coverage, coverage_beyond, relevance, precision,
        recall, ndcg, popularity, and hr, precision_test, recall_test when ``scores`` is given.
    """
    if lists.shape[1] < 2 * max(ks):
        raise DivlibError(
            f"lists hold {lists.shape[1]} items per user; evaluating k up to {max(ks)} needs "
            f"{2 * max(ks)} (ranks k+1..2k); make the lists longer or lower the largest k"
        )
    frames = []
    for k in ks:
        top, beyond = lists[:, :k], lists[:, k : 2 * k]
        columns = {
            "dro": list_diversity(top, data.distance),
            "dro_beyond": list_diversity(beyond, data.distance),
            "coverage": category_coverage(top, data.categories),
            "coverage_beyond": category_coverage(beyond, data.categories),
            "relevance": predicted_relevance_share(predicted[:, :k]),
            **precision_recall_ndcg(top, data.positives),
            "popularity": average_popularity(top, data.popularity),
        }
        if scores is not None:
            columns |= rank_test_items(scores, data.test_ratings, k=k)
        frame = pl.DataFrame(
            {name: value.double().cpu().numpy() for name, value in columns.items()}
        )
        frames.append(frame.with_columns(k=pl.lit(k), user=pl.int_range(len(frame))))
    return pl.concat(frames, how="diagonal").select("k", "user", pl.exclude("k", "user"))


def long_lists(lists: torch.Tensor) -> pl.DataFrame:
    """``(n_users, K)`` ranked item lists as rows (user, rank, item), rank 1 first."""
    users, length = lists.shape
    return pl.DataFrame({
        "user": torch.arange(users).repeat_interleave(length).numpy(),
        "rank": torch.arange(1, length + 1).repeat(users).numpy(),
        "item": lists.flatten().numpy(),
    })  # fmt: skip


def evaluate_runs(
    base: nn.Module,
    runs: Iterable[tuple[dict, nn.Module]],
    reranked: Mapping[tuple[str, float | None], torch.Tensor],
    data: EvaluationData,
    exclude: torch.Tensor,
    *,
    ks: list[int],
    device: torch.device | str = "cpu",
) -> pl.DataFrame:
    """Per-user metrics of a pretrained model, of its fine-tuned runs and of its re-rankings.

    A model is evaluated on its own ranking, its top 2·max(ks) items outside ``exclude`` by score,
    with the test-item HR, Precision and Recall of its scores. A re-ranking's lists are evaluated with
    the base model's predicted ratings of their items.

    Args:
        base: the pretrained model (``score_all(users) -> (B, m)``); every model is moved to ``device``.
        runs: ``(identity, model)`` per fine-tuned run, identity with keys method, param, seed
            (:func:`load_runs`).
        reranked: ``{(method, param): (n_users, K) item ids}`` re-ranked from the base model's
            candidates (:func:`divlib.rerank.rerank_all`), K >= 2·max(ks).
        data: the metrics' inputs for all users; exclude: ``(n_users, m)`` bool, the items never
            ranked (rated in training or validation).
        ks: list lengths.
        device: where to compute.

    Returns:
        The rows of :func:`evaluate_lists` with method, param (Float64) and seed (Int64) appended: the
        base model (:data:`BASE`), then each run, then each re-ranking (seed 0); the test-item columns
        are null for re-rankings.
    """
    data, exclude = data.to(device), exclude.to(device)
    base_scores = _scores(base, exclude.shape[0], device)
    frames = [_model_rows(base_scores, BASE, data, exclude, ks)]
    for identity, model in runs:
        frames.append(
            _model_rows(_scores(model, exclude.shape[0], device), identity, data, exclude, ks)
        )
    for (method, param), items in reranked.items():
        if items.shape[0] != exclude.shape[0]:
            raise DivlibError(
                f"the {method} lists hold {items.shape[0]} users; the model has {exclude.shape[0]}; "
                "rerun the rerank stage"
            )
        items = items.to(device)
        rows = evaluate_lists(items, base_scores.gather(1, items), data, ks=ks)
        frames.append(_tag(rows, {"method": method, "param": param, "seed": 0}))
    return pl.concat(frames, how="diagonal_relaxed")


def load_runs(folder: Path) -> Iterator[tuple[dict, nn.Module]]:
    """The fine-tuned runs under ``folder``, one at a time in name order: the identity (method, param,
    seed) of each run's ``run.json`` and the model of its ``selected.pt``."""
    for run, identity in read_runs(folder):
        model, _ = load_model(run / "selected.pt")
        yield {key: identity[key] for key in RUN_KEYS}, model


def run_label(method: str, param: float | None) -> str:
    """A run's label in metrics files: ``ddt-0.5``, or the method alone without a parameter."""
    return method + ("" if param is None else f"-{param:g}")


def reported_metrics(summary: pl.DataFrame, k: int) -> dict[str, dict[str, float]]:
    """``{run label: {metric@k: value}}`` of :func:`summarize`'s rows at ``k`` for the metrics of
    :data:`divlib.metrics.REPORTED`, rounded to 6 significant digits; null and NaN values left out."""
    return {
        run_label(row["method"], row["param"]): {
            metric_name(name, k): float(f"{row[name]:.6g}")
            for name in REPORTED
            if row.get(name) is not None and row[name] == row[name]
        }
        for row in summary.filter(pl.col("k") == k).to_dicts()
    }


def summarize(per_user: pl.DataFrame, *, base: str = "base") -> pl.DataFrame:
    """Mean (std) over seeds of the per-run user means, with gains and p-values against ``base``.

    Args:
        per_user: rows of :func:`evaluate_lists` with the run columns method, param, seed added (and
            any further grouping columns such as dataset and model, kept as they are).
        base: the method of the relevance-only model; it must have one run per group.

    Returns:
        One row per (group, method, param, k): ``{metric}`` (mean over seeds), ``{metric}_std``
        (over seeds; null for a single seed), ``seeds``, ``users`` and ``users_with_positives`` (who
        count in precision, recall, NDCG); for the metrics of ``GAIN_METRICS``, ``{metric}_gain`` (absolute),
        ``{metric}_gain_pct`` and ``{metric}_p`` (Wilcoxon, null for the base itself).
    """
    metrics = [c for c in per_user.columns if per_user[c].dtype == pl.Float64 and c != "param"]
    groups = [c for c in per_user.columns if c not in metrics + RUN_KEYS + ["user"]]
    if base not in per_user["method"].unique().to_list():
        raise DivlibError(f"no rows of the base method {base!r} to compare with")
    per_user = per_user.with_columns(pl.col(metrics).fill_nan(None))  # undefined: skipped
    runs = per_user.group_by(groups + RUN_KEYS, maintain_order=True).agg(
        *[pl.col(m).mean() for m in metrics],
        pl.col("dro").count().alias("users"),
        pl.col("recall").count().alias("users_with_positives"),
    )
    summary = runs.group_by(groups + ["method", "param"], maintain_order=True).agg(
        *[pl.col(m).mean() for m in metrics],
        *[pl.col(m).std().alias(f"{m}_std") for m in metrics],
        pl.len().alias("seeds"),
        pl.col("users", "users_with_positives").min(),
    )
    reference = summary.filter(pl.col("method") == base).select(
        *groups, *[pl.col(m).alias(f"{m}_base") for m in GAIN_METRICS]
    )
    summary = summary.join(reference, on=groups, how="left").with_columns(
        *[(pl.col(m) - pl.col(f"{m}_base")).alias(f"{m}_gain") for m in GAIN_METRICS],
        *[
            (100 * (pl.col(m) - pl.col(f"{m}_base")) / pl.col(f"{m}_base")).alias(f"{m}_gain_pct")
            for m in GAIN_METRICS
        ],
    )
    pvalues = _paired_pvalues(per_user, groups, base)
    return summary.drop([f"{m}_base" for m in GAIN_METRICS]).join(
        pvalues, on=groups + ["method", "param"], how="left", nulls_equal=True
    )


@torch.no_grad()
def _scores(model: nn.Module, n_users: int, device: torch.device | str) -> torch.Tensor:
    """``(n_users, m)`` scores of ``model`` (moved to ``device``) for every user."""
    return model.to(device).score_all(torch.arange(n_users, device=device))


def _model_rows(
    scores: torch.Tensor, identity: dict, data: EvaluationData, exclude: torch.Tensor, ks: list[int]
) -> pl.DataFrame:
    """Per-user metrics of a model's own ranking (and the paper's test-item HR/Precision/Recall)."""
    items = topk_items(scores, k=2 * max(ks), exclude=exclude)
    rows = evaluate_lists(items, scores.gather(1, items), data, ks=ks, scores=scores)
    return _tag(rows, identity)


def _tag(frame: pl.DataFrame, identity: dict) -> pl.DataFrame:
    """``frame`` with the run's method, param (Float64) and seed (Int64) appended."""
    return frame.with_columns(
        pl.lit(identity["method"]).alias("method"),
        pl.lit(identity["param"], dtype=pl.Float64).alias("param"),
        pl.lit(identity["seed"], dtype=pl.Int64).alias("seed"),
    )


def _paired_pvalues(per_user: pl.DataFrame, groups: list[str], base: str) -> pl.DataFrame:
    """Two-sided Wilcoxon signed-rank p-values, per method against ``base``, paired by user."""
    by_user = per_user.group_by(groups + ["method", "param", "user"], maintain_order=True).agg(
        pl.col(GAIN_METRICS).mean()
    )
    reference = by_user.filter(pl.col("method") == base).drop("method", "param")
    paired = by_user.join(reference, on=groups + ["user"], suffix="_base")
    rows = []
    for key, frame in paired.group_by(groups + ["method", "param"], maintain_order=True):
        row = dict(zip(groups + ["method", "param"], key, strict=True))
        for metric in GAIN_METRICS:
            pairs = frame.select(metric, f"{metric}_base").drop_nulls().drop_nans()
            difference = (pairs[metric] - pairs[f"{metric}_base"]).to_numpy()
            testable = row["method"] != base and (difference != 0).any()
            row[f"{metric}_p"] = (
                float(scipy.stats.wilcoxon(difference).pvalue) if testable else None
            )
        rows.append(row)
    return pl.DataFrame(rows, schema_overrides={"param": per_user.schema["param"]})
