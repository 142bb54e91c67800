"""The paper's claims against our runs: one row per claim (and model, method), with our number, the
paper's, the rule that decides and its verdict.

Every verdict comes from a ``rule_*`` function: it takes the few numbers a claim turns on and returns
:data:`REPRODUCED`, :data:`PARTLY` or :data:`NOT_REPRODUCED`; its docstring is the rule as the table
prints it. Each row says on how many comparisons its verdict rests (``comparisons``); a claim with
nothing to compare (no runs) gets :data:`NOT_DECIDED`. The functions read
plain frames, never files:

- :func:`beta_sweep_claims` (Q1, Fig. 1): per-run means over users (:func:`divlib.study.evaluation.run_means`)
  of the beta_sweep experiment.
- :func:`dominance_claims` (Q2, Table III): per-run means of the baselines and main_table at the
  main_table seeds (DDT's point against each re-ranker setting, paired by seed).
- :func:`gain_claims` (Q3, Tables IV and VI): the gain_beyond_k summaries.
- :func:`curve_claims` (Q4, Fig. 2): per-epoch curves, columns model, method, regime, seed, epoch,
  ddro, dro.
- :func:`adaptive_claims` (Lemma 3): per-step logs, columns model, method, seed, step, beta, beta_low,
  beta_high.

:func:`verdict_frame` stacks their rows into the table's columns :data:`COLUMNS`.
"""

import math
from collections.abc import Mapping, Sequence

import polars as pl

from divlib.study.intervals import POSITIVE, paired_interval
from divlib.study.methods import RERANKERS, lookup
from divlib.study.params import CONTROL_BETA
from divlib.study.render import mean_std, number
from divlib.study.tables import PAPER_RERANKERS, PUBLISHED_KEY, summary_row

REPRODUCED, PARTLY, NOT_REPRODUCED = "reproduced", "partly", "not reproduced"
NOT_DECIDED = "not decided"  # nothing to compare: no runs, or none of the compared methods
COLUMNS = ("claim", "experiment", "ours", "paper", "comparisons", "rule", "verdict")
RECALL_FROM_BETA, RECALL_TOLERANCE = 0.3, 0.05
TRACK_GAP, TRACK_CORRELATION, REACH = 0.05, 0.9, 0.95
FEASIBLE_PARTLY = 0.9
DOMINANCE_MEASURES = ("relevance", "ndcg")  # Q2's relevance measures: predicted (eq. 12), held out
_MEASURE_TEXT = {"relevance": "predicted relevance", "ndcg": "NDCG@{k}"}
MAX_LISTED = 3  # dominating settings named in a Q2 row
PAPER_ADAPTIVE, VARIANT_ADAPTIVE = "ddt-adaptive", "ddt-adaptive-normalized"
_PAPER_TEXT = {  # the paper's claims where it prints no number (figures, second-hand text)
    "beta_sweep": (
        "Fig. 1: DRO@10 above β = 1 at every β < 1; recall flat (Coat, KuaiRec) or a small drop for "
        "β < 0.3 (Yahoo-R2, Netflix, MovieLens); no numbers",
        "all five datasets",
    ),
    "training_curves": (
        "Fig. 2: DDRO tracks DRO closely; fine-tuning converges much faster than training from "
        "scratch; no numbers",
        "MovieLens-1M",
    ),
    "adaptive_beta": (
        "β* always stays inside the Lemma 3 interval (ICLR text, known from summaries); no number",
        "not stated",
    ),
}


def rule_beta_sweep(
    seed_gains: Mapping[float, Sequence[float]], recall_changes: Mapping[float, float]
) -> str:
    """Reproduced if the DRO@k gain over the β = 1 control is > 0 in every seed at every β < 1 and
    the mean recall_test@k at every β ≥ 0.3 is within 5 % (relative) of the control's; partly if the
    mean gain is > 0 at more than half of the βs < 1; not reproduced otherwise."""
    if all(g > 0 for gains in seed_gains.values() for g in gains) and all(
        abs(change) <= RECALL_TOLERANCE for change in recall_changes.values()
    ):
        return REPRODUCED
    positive = sum(sum(gains) / len(gains) > 0 for gains in seed_gains.values())
    return PARTLY if positive > len(seed_gains) / 2 else NOT_REPRODUCED


def dominates(dro_differences: Sequence[float], relevance_differences: Sequence[float]) -> bool:
    """Whether a re-ranker's setting dominates DDT, from the per-seed differences (setting − DDT)
    of DRO@k and of one relevance measure, paired by seed: both means ≥ 0, and the paired 95 % t
    interval (:func:`divlib.study.intervals.paired_interval`) of at least one of the two lies above
    0."""
    dro, relevance = paired_interval(dro_differences), paired_interval(relevance_differences)
    both = dro.mean >= 0 and relevance.mean >= 0
    return both and POSITIVE in (dro.sign, relevance.sign)


def rule_dominance(
    differences: Mapping[str, Mapping[str, tuple[Sequence[float], Sequence[float]]]],
) -> str:
    """Each setting a re-ranker ran (MMR over λ and as the paper ran it, DPP over θ and as the paper
    ran it, DUM) is a point of its relevance–diversity curve, compared with DDT's point under two
    relevance measures: predicted (eq. 12) and NDCG@k on held-out ratings. Per seed, the difference
    setting − DDT of DRO@k and of the measure (each seed re-ranks and fine-tunes its own pretrained
    model); a setting dominates DDT when both mean differences are ≥ 0 and the paired 95 % t
    interval over seeds of at least one lies above 0 (needs ≥ 2 seeds, else not decided).
    Reproduced if no setting dominates DDT under either measure; partly if some do under one
    measure only; not reproduced otherwise (dominated under both)."""
    dominated = [
        any(dominates(dro, relevance) for dro, relevance in points.values())
        for points in differences.values()
    ]
    if not any(dominated):
        return REPRODUCED
    return PARTLY if not all(dominated) else NOT_REPRODUCED


def rule_gain_beyond_k(within: Mapping[int, float], beyond: Mapping[int, float]) -> str:
    """Mean gains over seeds. Reproduced if the gain within k (ranks 1..k) and beyond k (ranks
    k+1..2k) is > 0 at every k; partly if more than half of these gains are > 0; not reproduced
    otherwise."""
    gains = [*within.values(), *beyond.values()]
    positive = sum(g > 0 for g in gains)
    if positive == len(gains):
        return REPRODUCED
    return PARTLY if positive > len(gains) / 2 else NOT_REPRODUCED


def rule_training_curves(
    gap: float, correlation: float, epochs_finetune: float, epochs_scratch: float
) -> str:
    """DDRO tracks DRO if their mean |DDRO − DRO| over epochs is ≤ 0.05 and their Pearson correlation
    ≥ 0.9; fine-tuning is far faster if it reaches (and keeps) 95 % of the from-scratch final DRO@k
    in at most half the epochs training from scratch needs (means over seeds). Reproduced if both
    hold; partly if one does; not reproduced otherwise."""
    tracks = gap <= TRACK_GAP and correlation >= TRACK_CORRELATION
    faster = epochs_finetune <= epochs_scratch / 2
    if tracks and faster:
        return REPRODUCED
    return PARTLY if tracks or faster else NOT_REPRODUCED


def rule_feasible_beta(share: float) -> str:
    """Reproduced if β* lies in [β_low, β_high] at every step; partly at ≥ 90 % of the steps; not
    reproduced otherwise."""
    if share == 1:
        return REPRODUCED
    return PARTLY if share >= FEASIBLE_PARTLY else NOT_REPRODUCED


def beta_sweep_claims(runs: pl.DataFrame, *, k: int) -> list[dict]:
    """Q1, per model and method: DRO@k over the β = 1 control of the same seed at every β < 1, and
    the relative change of recall_test@k (mean over seeds) against the control's at every β ≥ 0.3.

    Args:
        runs: per-run means (:func:`divlib.study.evaluation.run_means`) with columns model, method, param,
            seed, k, dro, recall_test.
    """
    rows = []
    for (model, method), frame in _groups(runs.filter(pl.col("k") == k), ["model", "method"]):
        control = frame.filter(pl.col("param") == CONTROL_BETA).select(
            "seed",
            pl.col("dro").alias("control_dro"),
            pl.col("recall_test").alias("control_recall"),
        )
        swept = frame.filter(pl.col("param") < CONTROL_BETA).join(control, on="seed")
        claim = (
            f"Q1 {model.upper()} {lookup(method).label}: DRO@{k} above the β = 1 control at every "
            f"β < 1, recall_test@{k} within {RECALL_TOLERANCE:.0%} of it for β ≥ {RECALL_FROM_BETA:g}"
        )
        if swept.is_empty():
            rows.append(_not_decided(claim, "beta_sweep", rule_beta_sweep))
            continue
        by_beta = (
            swept.with_columns(gain=pl.col("dro") - pl.col("control_dro"))
            .group_by("param")
            .agg(
                pl.col("gain"),
                pl.col("gain").mean().alias("mean"),
                pl.col("gain").std().alias("std"),
                (pl.col("recall_test").mean() / pl.col("control_recall").mean() - 1).alias(
                    "recall"
                ),
            )
            .sort("param")
        )
        gains = dict(zip(by_beta["param"], by_beta["gain"].to_list(), strict=True))
        recall = {
            beta: change
            for beta, change in zip(by_beta["param"], by_beta["recall"], strict=True)
            if beta >= RECALL_FROM_BETA
        }
        low = by_beta.row(int(by_beta["mean"].arg_min()), named=True)
        high = by_beta.row(int(by_beta["mean"].arg_max()), named=True)
        positive = sum(g > 0 for values in gains.values() for g in values)
        worst = max(recall, key=lambda beta: abs(recall[beta]), default=None)
        recall_text = (
            "no such β" if worst is None else f"worst {100 * recall[worst]:+.1f} % (β = {worst:g})"
        )
        ours = (
            f"DRO@{k} gain over β = 1: {mean_std(low['mean'], low['std'], signed=True)} at "
            f"β = {low['param']:g} to {mean_std(high['mean'], high['std'], signed=True)} at "
            f"β = {high['param']:g}; > 0 in {positive}/{sum(map(len, gains.values()))} seed × β; "
            f"recall_test@{k} vs control at β ≥ {RECALL_FROM_BETA:g}: {recall_text}; "
            f"{_seeds(swept['seed'].n_unique())}"
        )
        verdict = rule_beta_sweep(gains, recall)
        paper = _paper(*_PAPER_TEXT["beta_sweep"])
        comparisons = sum(map(len, gains.values())) + len(recall)
        rows.append(_row(claim, "beta_sweep", ours, paper, rule_beta_sweep, verdict, comparisons))
    return rows


def dominance_claims(
    runs: pl.DataFrame, *, k: int, betas: Sequence[float], published: pl.DataFrame | None
) -> list[dict]:
    """Q2, per model and β: DDT's point against every setting of the re-rankers
    (:data:`divlib.study.methods.RERANKERS`) under predicted relevance and NDCG@k
    (:data:`DOMINANCE_MEASURES`), paired by seed (:func:`rule_dominance`).

    Args:
        runs: per-run means over users (:func:`divlib.study.evaluation.run_means`) of the baselines
            and the main_table runs at the main_table seeds; columns model, method, param, seed, k,
            dro, relevance, ndcg.
        published: the paper's rows of one dataset (:func:`divlib.study.readers.paper_rows`).
    """
    runs = runs.filter(pl.col("k") == k)
    rows = []
    for model in runs["model"].unique(maintain_order=True).to_list():
        at = runs.filter(pl.col("model") == model)
        for beta in betas:
            claim = (
                f"Q2 {model.upper()} DDT (β = {beta:g}) at k = {k}: no re-ranker setting is at "
                f"least as diverse and as relevant (predicted relevance; NDCG@{k})"
            )
            ddt = at.filter((pl.col("method") == "ddt") & ((pl.col("param") - beta).abs() < 1e-9))
            points = _reranker_points(at, ddt["seed"].to_list())
            seeds = ddt["seed"].n_unique()
            if ddt.is_empty() or not points or seeds < 2:
                why = "no runs" if ddt.is_empty() or not points else "1 seed: no paired interval"
                rows.append(_row(claim, "main_table", why, "–", rule_dominance, NOT_DECIDED, 0))
                continue
            differences = {
                measure: {
                    label: (_paired(point, ddt, "dro"), _paired(point, ddt, measure))
                    for label, point in points.items()
                }
                for measure in DOMINANCE_MEASURES
            }
            ours = _dominance_text(ddt, differences, k)
            verdict = rule_dominance(differences)
            comparisons = len(points) * len(DOMINANCE_MEASURES)
            paper = _published_main(published, k)
            rows.append(
                _row(claim, "main_table", ours, paper, rule_dominance, verdict, comparisons)
            )
    return rows


def _reranker_points(runs: pl.DataFrame, seeds: Sequence[int]) -> dict[str, pl.DataFrame]:
    """Each setting of :data:`~divlib.study.methods.RERANKERS` in ``runs`` (one model, one k) at
    ``seeds``, labelled as :func:`setting_label`; its rows sorted by seed."""
    settings = runs.filter(pl.col("seed").is_in(seeds)).sort("param", "seed", nulls_last=True)
    return {
        setting_label(method, param): rows
        for method in RERANKERS
        for (param,), rows in settings.filter(pl.col("method") == method).group_by(
            "param", maintain_order=True
        )
    }


def setting_label(method: str, param: float | None) -> str:
    """``"MMR (λ = 0.3)"``: a method's label with its setting (the label alone without one)."""
    look = lookup(method)
    return look.label if param is None or look.symbol is None else (
        f"{look.label} ({look.symbol} = {param:g})"
    )


def _paired(point: pl.DataFrame, ddt: pl.DataFrame, metric: str) -> list[float]:
    """``point``'s ``metric`` minus DDT's, per seed both have, in seed order."""
    joined = point.join(ddt, on="seed", suffix="_ddt").sort("seed")
    return (joined[metric] - joined[f"{metric}_ddt"]).to_list()


def _dominance_text(ddt: pl.DataFrame, differences: Mapping, k: int) -> str:
    """DDT's means (std), then per measure the settings that dominate it, with their intervals."""
    spread = {m: mean_std(ddt[m].mean(), ddt[m].std()) for m in ("dro", *DOMINANCE_MEASURES)}
    parts = [
        f"DDT DRO@{k} {spread['dro']}, "
        + ", ".join(f"{_MEASURE_TEXT[m].format(k=k)} {spread[m]}" for m in DOMINANCE_MEASURES)
    ]
    for measure, points in differences.items():
        found = [label for label, pair in points.items() if dominates(*pair)]
        name = _MEASURE_TEXT[measure].format(k=k)
        shown = "; ".join(
            f"{label} (ΔDRO {paired_interval(points[label][0]).text()}, Δ{name} "
            f"{paired_interval(points[label][1]).text()})"
            for label in found[:MAX_LISTED]
        )
        more = f"; {len(found) - MAX_LISTED} more" if len(found) > MAX_LISTED else ""
        parts.append(
            f"dominated under {name} by {len(found)} of {len(points)} settings"
            + (f": {shown}{more}" if found else "")
        )
    return "; ".join(parts) + f"; {_seeds(ddt['seed'].n_unique())}"


def gain_claims(
    summary: pl.DataFrame, *, ks: Sequence[int], beta: float, published: pl.DataFrame | None
) -> list[dict]:
    """Q3, per model and method: the DRO gain of the run fine-tuned for k, at k, within and beyond k,
    mean over seeds of the gains paired by seed.

    Args:
        summary: the gain_beyond_k summaries, stacked.
        published: the paper's rows of one dataset (:func:`divlib.study.readers.paper_rows`).
    """
    rows = []
    trained = summary.filter(pl.col("method") != "base")
    for (model, method), frame in _groups(trained, ["model", "method"]):
        claim = (
            f"Q3 {model.upper()} {lookup(method).label} (β = {beta:g}): DRO gain > 0 within k and "
            f"beyond k at every k"
        )
        cells = {
            k: summary_row(frame, model=model, method=method, k=k, param=beta, train_k=k)
            for k in ks
        }
        cells = {k: row for k, row in cells.items() if row is not None}
        if not cells:
            rows.append(_not_decided(claim, "gain_beyond_k", rule_gain_beyond_k))
            continue
        within = {k: row["dro_gain"] for k, row in cells.items()}
        beyond = {k: row["dro_beyond_gain"] for k, row in cells.items()}
        ours = "; ".join(
            f"{ranks}: {_points_range(cells, metric)}"
            for ranks, metric in (("1..k", "dro"), ("k+1..2k", "dro_beyond"))
        ) + (
            f"; > 0 in {sum(g > 0 for g in [*within.values(), *beyond.values()])}/{2 * len(cells)}"
            f" (k = {', '.join(map(str, cells))}); {_seeds(min(r['seeds'] for r in cells.values()))}"
        )
        verdict = rule_gain_beyond_k(within, beyond)
        paper = _published_gains(published, model, method, beta)
        comparisons = 2 * len(cells)
        rows.append(
            _row(claim, "gain_beyond_k", ours, paper, rule_gain_beyond_k, verdict, comparisons)
        )
    return rows


def curve_claims(curves: pl.DataFrame, *, k: int) -> list[dict]:
    """Q4, per model and method: how closely DDRO follows DRO@k over the epochs (both regimes), and
    the epochs each regime needs to reach and keep 95 % of the from-scratch final DRO@k.

    Args:
        curves: columns model, method, regime (finetune, scratch), seed, epoch, ddro, dro.
    """
    rows = []
    for (model, method), frame in _groups(curves, ["model", "method"]):
        claim = (
            f"Q4 {model.upper()} {lookup(method).label}: DDRO tracks DRO@{k}; fine-tuning reaches "
            f"the from-scratch diversity in far fewer epochs"
        )
        regimes = set(frame["regime"].to_list())
        if not {"finetune", "scratch"} <= regimes:
            rows.append(_not_decided(claim, "training_curves", rule_training_curves))
            continue
        gap = float((frame["ddro"] - frame["dro"]).abs().mean())
        correlation = frame.select(pl.corr("ddro", "dro")).item()
        reached = _epochs_to_reach(frame)
        epochs = {regime: float(reached[regime].mean()) for regime in ("finetune", "scratch")}
        ours = (
            f"mean |DDRO − DRO@{k}| {gap:.3f}, Pearson r {number(correlation, 2)}; epochs to "
            f"{REACH:.0%} of the from-scratch final DRO@{k}: fine-tuned {number(epochs['finetune'], 1)},"
            f" from scratch {number(epochs['scratch'], 1)}; {_seeds(frame['seed'].n_unique())}"
        )
        verdict = rule_training_curves(
            gap, math.nan if correlation is None else correlation, *epochs.values()
        )
        paper = _paper(*_PAPER_TEXT["training_curves"])
        comparisons = 2  # tracking (gap and correlation), speed (epochs to reach)
        rows.append(
            _row(claim, "training_curves", ours, paper, rule_training_curves, verdict, comparisons)
        )
    return rows


def adaptive_claims(steps: pl.DataFrame) -> list[dict]:
    """Lemma 3, per model: the share of steps at which the paper's β* (``ddt-adaptive``, the min-norm
    rule) lies in its feasible interval; the variant's share (``ddt-adaptive-normalized``) is shown
    beside it, not judged.

    Args:
        steps: columns model, method, seed, step, beta, beta_low, beta_high.
    """
    inside = (pl.col("beta") >= pl.col("beta_low") - 1e-9) & (
        pl.col("beta") <= pl.col("beta_high") + 1e-9
    )
    shares = steps.group_by("model", "method").agg(
        inside.mean().alias("share"), pl.len().alias("steps"), pl.col("seed").n_unique()
    )
    rows = []
    for model in steps["model"].unique(maintain_order=True).to_list():
        claim = f"Lemma 3 {model.upper()}: the min-norm β* stays in the feasible interval"
        found = {row["method"]: row for row in shares.filter(pl.col("model") == model).to_dicts()}
        rule_of_paper = found.get(PAPER_ADAPTIVE)
        if rule_of_paper is None:
            rows.append(_not_decided(claim, "adaptive_beta", rule_feasible_beta))
            continue
        variant = found.get(VARIANT_ADAPTIVE)
        ours = (
            f"inside [β_low, β_high] at {100 * rule_of_paper['share']:.1f} % of "
            f"{rule_of_paper['steps']} steps; {_seeds(rule_of_paper['seed'])}"
            + (f"; normalized variant: {100 * variant['share']:.1f} %" if variant else "")
        )
        verdict = rule_feasible_beta(rule_of_paper["share"])
        paper = _paper(*_PAPER_TEXT["adaptive_beta"])
        steps = rule_of_paper["steps"]
        rows.append(
            _row(claim, "adaptive_beta", ours, paper, rule_feasible_beta, verdict, steps)
        )
    return rows


def verdict_frame(*claims: Sequence[dict]) -> pl.DataFrame:
    """The rows of ``claims`` in order, columns :data:`COLUMNS`."""
    return pl.DataFrame([row for rows in claims for row in rows], schema=list(COLUMNS))


def rule_text(rule) -> str:
    """A rule as the table prints it: its docstring on one line."""
    return " ".join(rule.__doc__.split())


def _row(
    claim: str, experiment: str, ours: str, paper: str, rule, verdict: str, comparisons: int
) -> dict:
    values = (claim, experiment, ours, paper, comparisons, rule_text(rule), verdict)
    return dict(zip(COLUMNS, values, strict=True))


def _not_decided(claim: str, experiment: str, rule) -> dict:
    return _row(claim, experiment, "no runs", "–", rule, NOT_DECIDED, 0)


def _paper(text: str, dataset: str) -> str:
    return f"{text} ({dataset})"


def _groups(frame: pl.DataFrame, keys: list[str]):
    """``(key values, rows)`` per group of ``keys``, in order of first appearance."""
    return ((tuple(key), rows) for key, rows in frame.group_by(keys, maintain_order=True))


def _epochs_to_reach(curves: pl.DataFrame) -> dict[str, pl.Series]:
    """Per regime, per seed: the first epoch from which DRO stays ≥ 95 % of the seed's from-scratch
    final DRO (inf if never)."""
    final = (
        curves.filter(pl.col("regime") == "scratch")
        .sort("epoch")
        .group_by("seed")
        .agg(pl.col("dro").last().alias("target"))
        .with_columns(pl.col("target") * REACH)
    )
    reached = (
        curves.join(final, on="seed")
        .sort("epoch")
        .group_by("regime", "seed")
        .agg(
            pl.col("epoch")
            .cast(pl.Float64)
            .filter(pl.col("dro").reverse().cum_min().reverse() >= pl.col("target"))
            .min()
            .fill_null(math.inf)
        )
    )
    return {
        regime: reached.filter(pl.col("regime") == regime)["epoch"]
        for regime in ("finetune", "scratch")
    }


def _published_main(published: pl.DataFrame | None, k: int) -> str:
    if published is None:
        return "no published numbers"
    rows = published.filter(
        (pl.col("table") == "main") & (pl.col("k") == k) & (pl.col("model") == "nmf")
    )
    values = {(r["method"], r["metric"]): r["mean"] for r in rows.to_dicts()}
    keys = ["ddt", *(PUBLISHED_KEY.get(m, m) for m in PAPER_RERANKERS)]
    text = ", ".join(
        f"{key.upper()} {values[key, 'dro']} / {values[key, 'relevance']}"
        for key in keys
        if (key, "dro") in values and (key, "relevance") in values
    )
    return _paper(f"Table III DRO@{k} / relevance: {text or 'none'}", published["dataset"][0])


def _published_gains(published: pl.DataFrame | None, model: str, method: str, beta: float) -> str:
    if published is None:
        return "no published numbers"
    rows = published.filter(
        (pl.col("table") == "gain_beyond_k")
        & (pl.col("model") == model)
        & (pl.col("method") == method)
        & ((pl.col("param") - beta).abs() < 1e-9)
    )
    if rows.is_empty():
        return _paper("no published numbers", published["dataset"][0])
    values = rows.with_columns(pl.col("mean").cast(pl.Float64))
    ranges = "; ".join(
        f"{ranks}: {part['mean'].min():+.1f} to {part['mean'].max():+.1f} pp"
        for ranks, metric in (("1..k", "gain_pct"), ("k+1..2k", "gain_beyond_pct"))
        if not (part := values.filter(pl.col("metric") == metric)).is_empty()
    )
    positive = int((values["mean"] > 0).sum())
    table = "Table IV" if method == "ddt" else "Table VI"
    return _paper(f"{table} {ranges}; > 0 in {positive}/{values.height}", published["dataset"][0])


def _points_range(cells: Mapping[int, dict], metric: str) -> str:
    """The smallest and largest mean gain over ``cells`` (by k) in percentage points, with std."""
    points = {
        k: mean_std(
            100 * row[f"{metric}_gain"], _scaled(row[f"{metric}_gain_std"]), 1, signed=True
        )
        for k, row in cells.items()
    }
    low = min(cells, key=lambda k: cells[k][f"{metric}_gain"])
    high = max(cells, key=lambda k: cells[k][f"{metric}_gain"])
    return f"{points[low]} pp (k = {low}) to {points[high]} pp (k = {high})"


def _scaled(std: float | None) -> float | None:
    return None if std is None else 100 * std


def _seeds(count: int) -> str:
    return f"{count} seed" + ("" if count == 1 else "s")
