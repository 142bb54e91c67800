"""The paper's claims against our runs: one row per claim (and model, method), with our number, the
paper's, the rule that decides and its verdict.

Every verdict comes from a ``rule_*`` function: it takes the few numbers a claim turns on and returns
:data:`REPRODUCED`, :data:`PARTLY` or :data:`NOT_REPRODUCED`; its docstring is the rule as the table
prints it. Gains and differences are paired by seed (each seed pretrains its own model) and weighed
by their 95 % t interval over seeds (:mod:`divlib.study.intervals`): *positive* when the interval
lies above 0, *negative* when below, else *inconclusive*. Each row says on how many such comparisons
its verdict rests (``comparisons``); a claim with nothing to compare (no runs, or fewer than
:data:`MIN_SEEDS` seeds, which give no interval) gets :data:`NOT_DECIDED` and 0. The functions read
plain frames, never files:

- :func:`beta_sweep_claims` (Q1, Fig. 1): per-run means over users (:func:`divlib.study.evaluation.run_means`)
  of the beta_sweep experiment.
- :func:`dominance_claims` (Q2, Table III): per-run means of the baselines and main_table at the
  main_table seeds (DDT's point against each re-ranker setting, paired by seed).
- :func:`gain_claims` (Q3, Tables IV and VI): the gain_beyond_k summaries.
- :func:`curve_claims` (Q4, Fig. 2): per-step records of the training_curves runs
  (:func:`divlib.study.readers.training_steps`), columns model, method, regime, seed, step, epoch,
  ddro, dro.
- :func:`adaptive_claims` (Lemma 3): per-step logs (:func:`divlib.study.readers.adaptive_steps`),
  columns model, method, seed, step, beta.

:func:`verdict_frame` stacks their rows into the table's columns :data:`COLUMNS`.
"""

import math
from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from divlib.study.evaluation import param_is
from divlib.study.intervals import (
    INCONCLUSIVE,
    NEGATIVE,
    POSITIVE,
    Interval,
    paired_interval,
    summary_interval,
)
from divlib.study.methods import LEARNED, RERANKERS, lookup
from divlib.study.params import CONTROL_BETA
from divlib.study.readers import require_columns
from divlib.study.render import MISSING, mean_std, number
from divlib.study.tables import (
    GAIN_TABLES,
    PAPER_RERANKERS,
    PUBLISHED_KEY,
    published_gain_rows,
    published_main_rows,
    summary_row,
)

REPRODUCED, PARTLY, NOT_REPRODUCED = "reproduced", "partly", "not reproduced"
NOT_DECIDED = "not decided"  # nothing to compare: no runs, none of the compared methods, one seed
COLUMNS = ("claim", "experiment", "ours", "paper", "comparisons", "rule", "verdict")
MIN_SEEDS = 2  # the fewest seeds that give an interval
GROUND_TRUTH = "recall"  # Q1's relevance: full-catalogue recall@k on held-out ratings >= 4
FLAT_FROM_BETA, SMALL_DROP = 0.3, 0.10  # Q1: recall flat from this β, a drop of at most 10 %
PAPER_ROW = {"dgrec": "DGRec"}  # Table III's row names that are not the key in capitals
TRACK_GAP, TRACK_CORRELATION, REACH, FASTER = 0.05, 0.9, 0.95, 0.5  # Q4
TENTHS = 10  # Q4's final DRO@k, Lemma 3's early and late β*: a tenth of a run's steps
RELEVANCE_HEAVY = 0.5  # Lemma 3: a β* above it weighs relevance more than diversity
DOMINANCE_MEASURES = ("relevance", "ndcg")  # Q2's relevance measures: predicted (eq. 12), held out
_MEASURE_TEXT = {"relevance": "predicted relevance", "ndcg": "NDCG@{k}"}
MAX_LISTED = 3  # dominating settings named in a Q2 row
PAPER_ADAPTIVE, VARIANT_ADAPTIVE = "ddt-adaptive", "ddt-adaptive-normalized"
REGIMES = {"finetune": "fine-tuned", "scratch": "from scratch"}  # Q4's two regimes
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
        "β* always stays inside the Lemma 3 interval (true by algebra: a unit test, "
        "tests/test_tradeoff.py) and drifts from relevance-heavy towards diversity-heavy during "
        "training (ICLR text, known from summaries); no number",
        "not stated",
    ),
}


def rule_beta_sweep(
    diversity: Mapping[float, Interval], relevance: Mapping[float, Interval], control: float
) -> str:
    """Per β < 1, paired by seed with the β = 1 control (the same fine-tuning, relevance only): the
    DRO@k gain and the change of full-catalogue recall@k (held-out ratings ≥ 4), each with its 95 %
    t interval over seeds. Diversity holds if the DRO@k gain is positive (interval above 0) at every
    β < 1; recall has the paper's shape (flat, or a small drop for β < 0.3) if its change is
    negative (interval below 0) at no β ≥ 0.3 and its mean drop is at most 10 % of the control's
    mean recall at every β. Reproduced if both hold; partly if the DRO@k gain is positive at more
    than half of the βs < 1; not reproduced otherwise; not decided with fewer than two seeds."""
    if not _decided([*diversity.values(), *relevance.values()]):
        return NOT_DECIDED
    positive = sum(gain.sign == POSITIVE for gain in diversity.values())
    shape = all(
        change.mean >= -SMALL_DROP * control and (beta < FLAT_FROM_BETA or change.sign != NEGATIVE)
        for beta, change in relevance.items()
    )
    if positive == len(diversity) and shape:
        return REPRODUCED
    return PARTLY if positive > len(diversity) / 2 else NOT_REPRODUCED


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
    pairs = [dro for points in differences.values() for dro, _ in points.values()]
    if not pairs or min(map(len, pairs)) < MIN_SEEDS:
        return NOT_DECIDED
    dominated = [
        any(dominates(dro, relevance) for dro, relevance in points.values())
        for points in differences.values()
    ]
    if not any(dominated):
        return REPRODUCED
    return PARTLY if not all(dominated) else NOT_REPRODUCED


def rule_gain_beyond_k(within: Mapping[int, Interval], beyond: Mapping[int, Interval]) -> str:
    """The DRO gain over the pretrained model of the same seed, within k (ranks 1..k) and beyond k
    (ranks k+1..2k) at every k, of the run fine-tuned for that k, each with its 95 % t interval over
    seeds: positive if it lies above 0, negative if below, else inconclusive. Reproduced if every
    gain is positive; partly if more than half of them are; not reproduced otherwise (negative and
    inconclusive gains count against); not decided with fewer than two seeds."""
    gains = [*within.values(), *beyond.values()]
    if not _decided(gains):
        return NOT_DECIDED
    positive = sum(gain.sign == POSITIVE for gain in gains)
    if positive == len(gains):
        return REPRODUCED
    return PARTLY if positive > len(gains) / 2 else NOT_REPRODUCED


def rule_training_curves(
    tracking: Mapping[str, tuple[Interval, Interval]], faster: Interval
) -> str:
    """Per seed, over every step's record of each regime (fine-tuned; from scratch): the mean
    |DDRO − DRO@k| and the Pearson r of DDRO and DRO@k; and the epochs each regime needs to reach
    and keep 95 % of the seed's from-scratch final DRO@k (its mean over the last tenth of the steps;
    a run that never does counts one epoch past its end). Each with its 95 % t interval over seeds.
    DDRO tracks DRO@k in a regime if the interval of the gap lies below 0.05 and that of r above
    0.9; fine-tuning is far faster if the interval of (half the from-scratch epochs − the
    fine-tuned epochs) is positive. Reproduced if DDRO tracks DRO@k in both regimes and fine-tuning
    is far faster; partly if one or two of these three hold; not reproduced if none does; not
    decided with fewer than two seeds."""
    if not _decided([*(i for pair in tracking.values() for i in pair), faster]):
        return NOT_DECIDED
    held = [
        *(gap.high <= TRACK_GAP and r.low >= TRACK_CORRELATION for gap, r in tracking.values()),
        faster.sign == POSITIVE,
    ]
    if all(held):
        return REPRODUCED
    return PARTLY if any(held) else NOT_REPRODUCED


def rule_beta_drift(early: Interval, drop: Interval) -> str:
    """Per seed, the paper's min-norm β* (its weight on relevance) early in training (its mean over
    the first tenth of the steps) and its drop from then to late in training (minus its mean over
    the last tenth), each with its 95 % t interval over seeds. β* starts relevance-heavy if the
    interval of the early β* lies above 0.5; it drifts towards diversity if the drop's interval
    lies above 0. Reproduced if both hold; partly if not, but the drop's mean is > 0; not
    reproduced otherwise; not decided with fewer than two seeds."""
    if not _decided([early, drop]):
        return NOT_DECIDED
    if early.low > RELEVANCE_HEAVY and drop.sign == POSITIVE:
        return REPRODUCED
    return PARTLY if drop.mean > 0 else NOT_REPRODUCED


def beta_sweep_claims(runs: pl.DataFrame, *, k: int) -> list[dict]:
    """Q1, per model and method: at every β < 1, DRO@k and full-catalogue recall@k
    (:data:`GROUND_TRUTH`) minus those of the β = 1 control of the same seed, with their intervals.

    Args:
        runs: per-run means (:func:`divlib.study.evaluation.run_means`) with columns model, method,
            param, seed, k, dro, recall.
    """
    rows = []
    columns = ["model", "method", "param", "seed", "k", "dro", GROUND_TRUTH]
    runs = require_columns(runs, columns, "beta_sweep runs")
    for (model, method), frame in _groups(runs.filter(pl.col("k") == k), ["model", "method"]):
        control = frame.filter(pl.col("param") == CONTROL_BETA).select(
            "seed",
            pl.col("dro").alias("control_dro"),
            pl.col(GROUND_TRUTH).alias("control_relevance"),
        )
        swept = frame.filter(pl.col("param") < CONTROL_BETA).join(control, on="seed")
        claim = (
            f"Q1 {model.upper()} {lookup(method).label}: DRO@{k} above the β = 1 control at every "
            f"β < 1; recall@{k} (full catalogue) flat, or a small drop for β < {FLAT_FROM_BETA:g}"
        )
        if swept.is_empty():
            rows.append(_not_decided(claim, "beta_sweep", rule_beta_sweep))
            continue
        by_beta = (
            swept.group_by("param")
            .agg(
                (pl.col("dro") - pl.col("control_dro")).alias("gain"),
                (pl.col(GROUND_TRUTH) - pl.col("control_relevance")).alias("change"),
            )
            .sort("param")
        )
        diversity = dict(zip(by_beta["param"], map(_interval, by_beta["gain"]), strict=True))
        relevance = dict(zip(by_beta["param"], map(_interval, by_beta["change"]), strict=True))
        paired_seeds = control.filter(pl.col("seed").is_in(swept["seed"].unique().implode()))
        control_mean = float(paired_seeds["control_relevance"].mean())
        low = min(diversity, key=lambda beta: diversity[beta].mean)
        high = max(diversity, key=lambda beta: diversity[beta].mean)
        worst = min(relevance, key=lambda beta: relevance[beta].mean)
        flat = {beta: i for beta, i in relevance.items() if beta >= FLAT_FROM_BETA}
        seeds = swept["seed"].n_unique()
        ours = (
            f"DRO@{k} gain over β = 1: {diversity[low].text()} at β = {low:g} to "
            f"{diversity[high].text()} at β = {high:g}; {_signs(diversity.values())} of "
            f"{len(diversity)} βs < 1. Recall@{k} change: worst mean "
            f"{_percent(relevance[worst].mean, control_mean)} of the control's "
            f"{number(control_mean, 4)} (β = {worst:g}), {relevance[worst].text(digits=4)}; "
            f"negative at {_count(flat.values(), NEGATIVE)} of {len(flat)} βs ≥ "
            f"{FLAT_FROM_BETA:g}; {_seeds(seeds)}"
        )
        verdict = rule_beta_sweep(diversity, relevance, control_mean)
        paper = _paper(*_PAPER_TEXT["beta_sweep"])
        comparisons = _comparisons(verdict, len(diversity) + len(relevance))
        rows.append(_row(claim, "beta_sweep", ours, paper, rule_beta_sweep, verdict, comparisons))
    return rows


def dominance_claims(
    runs: pl.DataFrame, *, k: int, betas: Sequence[float], published: pl.DataFrame | None
) -> list[dict]:
    """Q2, per model and β: DDT's point against every setting of the re-rankers
    (:data:`divlib.study.methods.RERANKERS`) and DGRec's under predicted relevance and NDCG@k
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
            ddt = at.filter((pl.col("method") == "ddt") & param_is(beta))
            points = _reranker_points(at, ddt["seed"].to_list())
            learned = "".join(f", nor is {m.label}" for m in LEARNED if m.label in points)
            claim = (
                f"Q2 {model.upper()} DDT (β = {beta:g}) at k = {k}: no re-ranker setting is at "
                f"least as diverse and as relevant{learned} (predicted relevance; NDCG@{k})"
            )
            seeds = ddt["seed"].n_unique()
            if ddt.is_empty() or not points or seeds < MIN_SEEDS:
                why = "no runs" if ddt.is_empty() or not points else "1 seed: no paired interval"
                rows.append(_row(claim, "main_table", why, MISSING, rule_dominance, NOT_DECIDED, 0))
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
            intervals = 2 * len(points) * len(DOMINANCE_MEASURES)  # ΔDRO@k and Δmeasure each
            comparisons = _comparisons(verdict, intervals)
            paper = _published_main(published, k)
            rows.append(
                _row(claim, "main_table", ours, paper, rule_dominance, verdict, comparisons)
            )
    return rows


def _reranker_points(runs: pl.DataFrame, seeds: Sequence[int]) -> dict[str, pl.DataFrame]:
    """Each setting of :data:`~divlib.study.methods.RERANKERS`, and DGRec (``LEARNED``), in ``runs`` (one model,
    one k) at ``seeds``, labelled as :func:`setting_label`; its rows sorted by seed."""
    settings = runs.filter(pl.col("seed").is_in(seeds)).sort("param", "seed", nulls_last=True)
    return {
        setting_label(method, param): rows
        for method in (*RERANKERS, *(m.key for m in LEARNED))
        for (param,), rows in settings.filter(pl.col("method") == method).group_by(
            "param", maintain_order=True
        )
    }


def setting_label(method: str, param: float | None) -> str:
    """``"MMR (λ = 0.3)"``: a method's label with its setting (the label alone without one)."""
    look = lookup(method)
    return (
        look.label
        if param is None or look.symbol is None
        else (f"{look.label} ({look.symbol} = {param:g})")
    )


def _paired(point: pl.DataFrame, ddt: pl.DataFrame, metric: str) -> list[float]:
    """``point``'s ``metric`` minus DDT's, per seed both have, in seed order."""
    joined = point.join(ddt, on="seed", suffix="_ddt").sort("seed")
    return (joined[metric] - joined[f"{metric}_ddt"]).to_list()


def _dominance_text(ddt: pl.DataFrame, differences: Mapping, k: int) -> str:
    """DDT's means (std), then per measure the settings that dominate it, with their intervals,
    and how many settings are more relevant than DDT on average: a verdict that holds while they
    are is decided by diversity alone."""
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
        ahead = sum(paired_interval(pair[1]).mean > 0 for pair in points.values())
        parts.append(
            f"dominated under {name} by {len(found)} of {len(points)} settings"
            + (f": {shown}{more}" if found else "")
            + f" ({ahead} of them more relevant than DDT by {name}, on average)"
        )
    return "; ".join(parts) + f"; {_seeds(ddt['seed'].n_unique())}"


def gain_claims(
    summary: pl.DataFrame, *, ks: Sequence[int], beta: float, published: pl.DataFrame | None
) -> list[dict]:
    """Q3, per model and method: the DRO gain of the run fine-tuned for k, at k, within and beyond k:
    the mean over seeds of the gains paired by seed and its interval (from the summary's mean, std
    and seeds: :func:`divlib.study.intervals.summary_interval`).

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
        windows = {
            ranks: {
                k: summary_interval(row[f"{metric}_gain"], row[f"{metric}_gain_std"], row["seeds"])
                for k, row in cells.items()
            }
            for ranks, metric in (("1..k", "dro"), ("k+1..2k", "dro_beyond"))
        }
        within, beyond = windows.values()
        gains = [*within.values(), *beyond.values()]
        ours = "; ".join(
            f"{ranks}: {_points_range(gains_at)}, {_signs(gains_at.values())}"
            for ranks, gains_at in windows.items()
        ) + (
            f"; all: {_signs(gains)} of {len(gains)} (k = {', '.join(map(str, cells))}); "
            f"{_seeds(min(row['seeds'] for row in cells.values()))}"
        )
        verdict = rule_gain_beyond_k(within, beyond)
        paper = _published_gains(published, model, method, beta)
        comparisons = _comparisons(verdict, len(gains))
        rows.append(
            _row(claim, "gain_beyond_k", ours, paper, rule_gain_beyond_k, verdict, comparisons)
        )
    return rows


def curve_claims(steps: pl.DataFrame, *, k: int) -> list[dict]:
    """Q4, per model and method, from every step's record of the training_curves runs: per seed and
    regime how closely DDRO follows DRO@k, how long DDRO stays exactly 0 at the start, and the epochs
    to reach and keep 95 % of the seed's from-scratch final DRO@k; means over seeds with intervals.

    Args:
        steps: columns model, method, regime (finetune, scratch), seed, step, epoch, ddro, dro
            (:func:`divlib.study.readers.training_steps`).
    """
    columns = ["model", "method", "regime", "seed", "step", "epoch", "ddro", "dro"]
    steps = require_columns(steps, columns, "training steps")
    rows = []
    for (model, method), frame in _groups(steps, ["model", "method"]):
        claim = (
            f"Q4 {model.upper()} {lookup(method).label}: DDRO tracks DRO@{k}; fine-tuning reaches "
            f"the from-scratch diversity in far fewer epochs"
        )
        measures = _curve_measures(frame)
        if set(measures["regime"]) != set(REGIMES):
            rows.append(_not_decided(claim, "training_curves", rule_training_curves))
            continue
        by_regime = {
            regime: measures.filter(pl.col("regime") == regime).sort("seed") for regime in REGIMES
        }
        tracking = {
            regime: (_interval(runs["gap"]), _interval(runs["r"]))
            for regime, runs in by_regime.items()
        }
        paired = by_regime["finetune"].join(by_regime["scratch"], on="seed", suffix="_scratch")
        faster = _interval(FASTER * paired["reached_scratch"] - paired["reached"])
        texts = [
            f"{REGIMES[regime]}: mean |DDRO − DRO@{k}| {gap.text(signed=False)}, "
            f"r {r.text(signed=False)}" + _zero_phase(by_regime[regime])
            for regime, (gap, r) in tracking.items()
        ]
        ours = (
            "; ".join(texts)
            + f"; epochs to {100 * REACH:.0f} % of the from-scratch final DRO@{k}: "
            f"fine-tuned {number(paired['reached'].mean(), 1)}, from scratch "
            f"{number(paired['reached_scratch'].mean(), 1)}, half the latter minus the former "
            f"{faster.text(digits=1)}; {_seeds(paired.height)}"
        )
        verdict = rule_training_curves(tracking, faster)
        paper = _paper(*_PAPER_TEXT["training_curves"])
        comparisons = _comparisons(verdict, 2 * len(tracking) + 1)
        rows.append(
            _row(claim, "training_curves", ours, paper, rule_training_curves, verdict, comparisons)
        )
    return rows


def adaptive_claims(steps: pl.DataFrame) -> list[dict]:
    """Lemma 3, per model: the drift of the paper's β* (``ddt-adaptive``, the min-norm rule) from
    early to late training, per seed, with its interval; the variant's drift
    (``ddt-adaptive-normalized``) is shown beside it, not judged. That β* lies in the Lemma 3
    interval holds by algebra (``tests/test_tradeoff.py``), so it is not a verdict.

    Args:
        steps: columns model, method, seed, step, beta (:func:`divlib.study.readers.adaptive_steps`).
    """
    steps = require_columns(steps, ["model", "method", "seed", "step", "beta"], "adaptive steps")
    drifts = _beta_drifts(steps)
    rows = []
    for model in steps["model"].unique(maintain_order=True).to_list():
        claim = (
            f"Lemma 3 {model.upper()}: the min-norm β* drifts from relevance-heavy towards "
            "diversity-heavy during training"
        )
        found = {
            method: runs.sort("seed")
            for (method,), runs in _groups(drifts.filter(pl.col("model") == model), ["method"])
        }
        if PAPER_ADAPTIVE not in found:
            rows.append(_not_decided(claim, "adaptive_beta", rule_beta_drift))
            continue
        runs = found[PAPER_ADAPTIVE]
        early, drop = _interval(runs["early"]), _interval(runs["drop"])
        ours = (
            f"early β* (first tenth of steps) {early.text(digits=2, signed=False)}, late (last "
            f"tenth) {runs['late'].mean():.2f}; drop {drop.text()}; {_seeds(runs.height)}"
        )
        if VARIANT_ADAPTIVE in found:
            ours += f"; normalized variant (not judged): {_drift_text(found[VARIANT_ADAPTIVE])}"
        verdict = rule_beta_drift(early, drop)
        paper = _paper(*_PAPER_TEXT["adaptive_beta"])
        comparisons = _comparisons(verdict, 2)
        rows.append(
            _row(claim, "adaptive_beta", ours, paper, rule_beta_drift, verdict, comparisons)
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
    if (comparisons == 0) != (verdict == NOT_DECIDED):
        raise ValueError(f"{claim}: verdict {verdict!r} on {comparisons} comparisons")
    values = (claim, experiment, ours, paper, comparisons, rule_text(rule), verdict)
    return dict(zip(COLUMNS, values, strict=True))


def _not_decided(claim: str, experiment: str, rule) -> dict:
    return _row(claim, experiment, "no runs", MISSING, rule, NOT_DECIDED, 0)


def _interval(values) -> Interval:
    """:func:`paired_interval` of the per-seed ``values`` that are numbers (None and NaN left out);
    an interval of no seeds (never decided) if none is."""
    numbers = [float(v) for v in values if v is not None and not math.isnan(v)]
    return paired_interval(numbers) if numbers else Interval(math.nan, math.nan, math.nan, 0)


def _decided(intervals: Sequence[Interval]) -> bool:
    """Every interval exists: at least :data:`MIN_SEEDS` seeds (and at least one interval)."""
    return bool(intervals) and all(interval.n >= MIN_SEEDS for interval in intervals)


def _comparisons(verdict: str, intervals: int) -> int:
    """The comparisons a verdict rests on: its ``intervals``, none when it is not decided."""
    return 0 if verdict == NOT_DECIDED else intervals


def _count(intervals, sign: str) -> int:
    return sum(interval.sign == sign for interval in intervals)


def _signs(intervals) -> str:
    """``positive 3, inconclusive 1, negative 0``: how many of ``intervals`` have each sign."""
    intervals = list(intervals)
    signs = (POSITIVE, INCONCLUSIVE, NEGATIVE)
    return ", ".join(f"{sign} {_count(intervals, sign)}" for sign in signs)


def _percent(change: float, reference: float) -> str:
    return MISSING if not reference else f"{100 * change / reference:+.1f} %"


def _paper(text: str, dataset: str) -> str:
    return f"{text} ({dataset})"


def _groups(frame: pl.DataFrame, keys: list[str]):
    """``(key values, rows)`` per group of ``keys``, in order of first appearance."""
    return ((tuple(key), rows) for key, rows in frame.group_by(keys, maintain_order=True))


def _curve_measures(frame: pl.DataFrame) -> pl.DataFrame:
    """Per run (regime, seed) of one model and method: ``gap`` (mean |DDRO − DRO@k| over its
    steps), ``r`` (their Pearson correlation), ``zero_steps`` and ``zero_epochs`` (how long DDRO is
    exactly 0 from the first step), and ``reached``: the epoch of the first step from which DRO@k
    stays ≥ 95 % of the seed's from-scratch final DRO@k (the mean over the last tenth of its steps),
    one past the run's last epoch if it never does (null if the seed has no run from scratch)."""
    runs = {key: rows.sort("step") for key, rows in _groups(frame, ["regime", "seed"])}
    targets = {
        seed: REACH * float(rows["dro"].tail(max(1, rows.height // TENTHS)).mean())
        for (regime, seed), rows in runs.items()
        if regime == "scratch"
    }
    measures = []
    for (regime, seed), rows in runs.items():
        ddro, dro = rows["ddro"].to_numpy(), rows["dro"].to_numpy()
        epochs = rows["epoch"].to_numpy()
        zero = int(np.argmax(ddro != 0)) if (ddro != 0).any() else len(ddro)
        reached = None
        if seed in targets:
            kept = np.minimum.accumulate((dro >= targets[seed])[::-1])[::-1]  # holds from here on
            reached = float(epochs[kept.argmax()]) if kept.any() else float(epochs.max() + 1)
        measures.append(
            {
                "regime": regime,
                "seed": seed,
                "gap": float(np.abs(ddro - dro).mean()),
                "r": _pearson(ddro, dro),
                "zero_steps": zero,
                "zero_epochs": zero * float(epochs.max()) / len(epochs),
                "reached": reached,
            }
        )
    return pl.DataFrame(measures, schema_overrides={"reached": pl.Float64})


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r of ``x`` and ``y``; NaN if either is constant (or there are fewer than 2)."""
    if len(x) < 2 or x.std() == 0 or y.std() == 0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


def _zero_phase(runs: pl.DataFrame) -> str:
    """``, DDRO exactly 0 for its first 33 steps (4.1 epochs)`` (means over seeds), if it ever is."""
    if not runs["zero_steps"].max():
        return ""
    return (
        f", DDRO exactly 0 for its first {runs['zero_steps'].mean():.0f} steps "
        f"({runs['zero_epochs'].mean():.1f} epochs)"
    )


def _beta_drifts(steps: pl.DataFrame) -> pl.DataFrame:
    """Per run (model, method, seed): β's mean over the first (``early``) and the last (``late``)
    tenth of its steps (at least one step each) and ``drop`` = early − late."""
    tenth = pl.max_horizontal(pl.len() // TENTHS, 1)
    return (
        steps.sort("step")
        .group_by("model", "method", "seed", maintain_order=True)
        .agg(
            pl.col("beta").head(tenth).mean().alias("early"),
            pl.col("beta").tail(tenth).mean().alias("late"),
        )
        .with_columns(drop=pl.col("early") - pl.col("late"))
    )


def _drift_text(runs: pl.DataFrame) -> str:
    """``β 0.53 → 0.25``: the early and late β, means over the seeds of ``runs``."""
    return f"β {runs['early'].mean():.2f} → {runs['late'].mean():.2f}"


def _published_main(published: pl.DataFrame | None, k: int) -> str:
    if published is None:
        return "no published numbers"
    rows = published_main_rows(published, k)  # the paper's Table III is NMF's
    values = (
        {} if rows is None else {(r["method"], r["metric"]): r["mean"] for r in rows.to_dicts()}
    )
    keys = ["ddt", *(PUBLISHED_KEY.get(m, m) for m in PAPER_RERANKERS), "dgrec"]
    text = ", ".join(
        f"{PAPER_ROW.get(key, key.upper())} {values[key, 'dro']} / {values[key, 'relevance']}"
        for key in keys
        if (key, "dro") in values and (key, "relevance") in values
    )
    return _paper(f"Table III DRO@{k} / relevance: {text or 'none'}", published["dataset"][0])


def _published_gains(published: pl.DataFrame | None, model: str, method: str, beta: float) -> str:
    if published is None:
        return "no published numbers"
    rows = published_gain_rows(published, method, beta)
    rows = None if rows is None else rows.filter(pl.col("model") == model)
    if rows is None or rows.is_empty():
        return _paper("no published numbers", published["dataset"][0])
    values = rows.with_columns(pl.col("mean").cast(pl.Float64))
    ranges = "; ".join(
        f"{ranks}: {part['mean'].min():+.1f} to {part['mean'].max():+.1f} pp"
        for ranks, metric in (("1..k", "gain_pct"), ("k+1..2k", "gain_beyond_pct"))
        if not (part := values.filter(pl.col("metric") == metric)).is_empty()
    )
    positive = int((values["mean"] > 0).sum())
    return _paper(
        f"{GAIN_TABLES[method]} {ranges}; > 0 in {positive}/{values.height}",
        published["dataset"][0],
    )


def _points_range(gains: Mapping[int, Interval]) -> str:
    """The smallest and largest mean gain of ``gains`` (by k) in percentage points, with intervals."""
    low = min(gains, key=lambda k: gains[k].mean)
    high = max(gains, key=lambda k: gains[k].mean)
    return f"{gains[low].text(100, 1)} pp (k = {low}) to {gains[high].text(100, 1)} pp (k = {high})"


def _seeds(count: int) -> str:
    return f"{count} seed" + ("" if count == 1 else "s")
