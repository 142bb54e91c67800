"""Readers of the pipeline's outputs and of the paper's printed numbers, for the tables, verdicts and
figures."""

from collections.abc import Callable, Sequence
from pathlib import Path

import polars as pl

from divlib.errors import DivlibError
from divlib.io import first_line
from divlib.study.evaluation import BASELINES
from divlib.study.layout import Layout, read_parquet, read_runs, run_file

PAPER_PROXY = {"ml-100k": "ml-1m"}  # the published dataset shown for one the paper lacks
BAND = ["beta", "beta_low", "beta_high"]  # adaptive β and its feasible interval (Lemma 3)
COUNTERS = ("epoch", "step")  # integer columns of the run logs; the others are read as floats


PUBLISHED_NUMBERS = {  # column: (what its cells hold, may a cell be empty)
    "param": (r"-?\d+(\.\d+)?", True),
    "k": (r"\d+", True),
    "mean": (r"-?\d+(\.\d+)?", False),
    "std": (r"\d+(\.\d+)?", True),
}


def read_published(path: str | Path) -> pl.DataFrame:
    """``published.csv``, with mean and std kept as the printed strings (``1.00``, ``-0.0``),
    param a float and k an int. Every number is checked as read: a cell that is not one (``n/a``,
    ``zero.77``) is a DivlibError naming the file, its line and column."""
    try:
        frame = pl.read_csv(path, infer_schema=False)  # every cell a string: checked below
    except pl.exceptions.PolarsError as error:
        problem = first_line(error)
        raise DivlibError(f"{path}: not a CSV table ({problem}); restore it from git") from None
    missing = [c for c in [*PUBLISHED_NUMBERS, "table", "dataset", "method"] if c not in frame]
    if missing:
        raise DivlibError(f"{path}: lacks the columns {missing}; restore it from git")
    for column, (number, optional) in PUBLISHED_NUMBERS.items():
        cells = pl.col(column)
        bad = ~cells.str.contains(f"^{number}$")
        bad = bad.fill_null(not optional)
        rows = frame.with_row_index("line", offset=2).filter(bad)  # line 1: the header
        if rows.height:
            line, value = rows["line"][0], rows[column][0]
            expected = "a number as the paper prints it" + (" or empty" if optional else "")
            raise DivlibError(
                f"{path}: line {line}, column {column}: {value!r} is not {expected}; correct it "
                f"from the paper ({rows.height} such line(s))"
            )
    return frame.with_columns(pl.col("param").cast(pl.Float64), pl.col("k").cast(pl.Int64))


def paper_rows(published: pl.DataFrame, dataset: str) -> pl.DataFrame | None:
    """The published rows of ``dataset``, else of its :data:`PAPER_PROXY`; None if neither exists."""
    for name in (dataset, PAPER_PROXY.get(dataset, dataset)):
        rows = published.filter(pl.col("dataset") == name)
        if not rows.is_empty():
            return rows
    return None


def read_summaries(
    layout: Layout, dataset: str, models: Sequence[str], experiment: str
) -> pl.DataFrame:
    """The evaluation summaries of ``experiment`` (or ``baselines``) for ``models``, one frame."""
    frames = []
    for model in models:
        path = layout.summary(dataset, model, experiment)
        if not path.is_file():
            raise DivlibError(f"{path} is missing: run the evaluate stage of {experiment} first")
        frames.append(read_parquet(path).with_columns(model=pl.lit(model)))
    return pl.concat(frames, how="diagonal_relaxed")


def read_per_user(
    layout: Layout, dataset: str, models: Sequence[str], experiment: str
) -> pl.DataFrame:
    """The per-user evaluation rows of ``experiment`` for ``models``, one frame."""
    return pl.concat(
        [read_parquet(layout.per_user(dataset, model, experiment)) for model in models],
        how="diagonal_relaxed",
    )


def matched_per_user(
    layout: Layout,
    dataset: str,
    models: Sequence[str],
    *,
    k: int,
    experiment: str = "main_table",
    seeds: Sequence[int] | None = None,
) -> pl.DataFrame:
    """The per-user rows at ``k`` of the baselines (the pretrained models, their re-rankings, the
    anchors) and of ``experiment`` for ``models``, all over the same seeds: ``seeds``, or (None) the
    seeds ``experiment``'s runs have. The baselines run every seed; kept to the experiment's,
    every mean over seeds (Table III, its verdict, the Pareto figures) averages the same pretrained
    models.

    Raises:
        DivlibError: a seed of ``seeds`` has no run of ``experiment`` or no baselines.
    """
    return _matched(layout.per_user, dataset, models, k, experiment, seeds)


def matched_per_run(
    layout: Layout,
    dataset: str,
    models: Sequence[str],
    *,
    k: int,
    experiment: str = "main_table",
    seeds: Sequence[int] | None = None,
) -> pl.DataFrame:
    """The per-run rows (aggregate diversity) of the same runs as :func:`matched_per_user` with the
    same arguments, for :func:`divlib.study.evaluation.summarize`'s ``per_run``."""
    return _matched(layout.per_run, dataset, models, k, experiment, seeds)


def _matched(
    rows_of: Callable[[str, str, str], Path],
    dataset: str,
    models: Sequence[str],
    k: int,
    experiment: str,
    seeds: Sequence[int] | None,
) -> pl.DataFrame:
    """The rows at ``k`` of the baselines and of ``experiment`` of ``models``, read from the files
    ``rows_of(dataset, model, experiment)``, kept to ``seeds`` (None: the experiment's)."""
    runs, baselines = (
        pl.concat(
            [
                read_parquet(rows_of(dataset, model, name)).filter(pl.col("k") == k)
                for model in models
            ],
            how="diagonal_relaxed",
        )
        for name in (experiment, BASELINES)
    )
    chosen = sorted(runs["seed"].unique().to_list()) if seeds is None else list(seeds)
    for what, frame in ((experiment, runs), (BASELINES, baselines)):
        missing = sorted(set(chosen) - set(frame["seed"].unique().to_list()))
        if missing:
            raise DivlibError(
                f"{dataset}: the {what} evaluation has no rows of seed(s) {missing} at k = {k}; "
                + (
                    "rerun the rerank and evaluate-baselines stages with those seeds"
                    if what == BASELINES
                    else f"run the {experiment} experiment and evaluate it with those seeds"
                )
            )
    return pl.concat([baselines, runs], how="diagonal_relaxed").filter(pl.col("seed").is_in(chosen))


def training_curves(layout: Layout, dataset: str, models: Sequence[str]) -> pl.DataFrame:
    """Per epoch of every ``training_curves`` run of ``models``: the monitored users' soft DDRO and hard
    DRO@k. Columns model, method, regime, seed, epoch, ddro, dro; models in the order given, runs in
    name order."""
    return _run_frames(
        layout, dataset, models, "training_curves", "epochs", ["epoch", "ddro", "dro"]
    )


def training_steps(layout: Layout, dataset: str, models: Sequence[str]) -> pl.DataFrame:
    """Per step of every ``training_curves`` run of ``models``: the soft DDRO and the hard DRO@k of
    the step's users (all users unless ``finetune.users_per_step`` is set), both from the scores
    before the step's update. Columns model, method, regime, seed, step, epoch, ddro, dro."""
    columns = ["step", "epoch", "ddro", "dro"]
    return _run_frames(layout, dataset, models, "training_curves", "steps", columns)


def adaptive_steps(layout: Layout, dataset: str, models: Sequence[str]) -> pl.DataFrame:
    """Per step of every ``adaptive_beta`` run of ``models``: β, its feasible interval and the geometry
    it was chosen from (a = ‖g_rel‖, b = ‖g_div‖, ρ = their cosine). Columns model, method, seed, step,
    beta, beta_low, beta_high, a, b, rho."""
    columns = ["step", *BAND, "a", "b", "rho"]
    frame = _run_frames(layout, dataset, models, "adaptive_beta", "steps", columns)
    return frame.drop("regime")


def require_columns(frame: pl.DataFrame, columns: list[str], what: str) -> pl.DataFrame:
    """``frame``, or a DivlibError naming the ``columns`` it lacks."""
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise DivlibError(f"{what}: missing columns {missing}; rerun the stage that writes it")
    return frame


def _run_frames(
    layout: Layout,
    dataset: str,
    models: Sequence[str],
    experiment: str,
    log: str,
    columns: list[str],
) -> pl.DataFrame:
    """``columns`` of the ``log`` (epochs or steps) of every run of ``experiment`` of ``models``,
    tagged with model, method, regime and seed from each run's run.json."""
    frames = []
    for model in models:
        for run, identity in read_runs(layout.runs(dataset, model, experiment)):
            path = run_file(run, log)
            if not path.is_file():
                raise DivlibError(f"{path} is missing; rerun the finetune stage of {experiment}")
            rows = require_columns(read_parquet(path), columns, str(path))
            tags = [
                pl.lit(model).alias("model"),
                pl.lit(identity["method"]).alias("method"),
                pl.lit(identity["regime"]).alias("regime"),
                pl.lit(identity["seed"], dtype=pl.Int64).alias("seed"),
            ]
            values = [pl.col(c).cast(pl.Int64 if c in COUNTERS else pl.Float64) for c in columns]
            frames.append(rows.select(*tags, *values))
    if not frames:
        raise DivlibError(f"{experiment}: no runs of {', '.join(models)}; run its finetune stage")
    return pl.concat(frames)
