"""The robustness table (beyond the paper): the claims Q2 and Q3 re-judged under defensible
alternatives to our setting, one verdict column per variant.

A variant (``robustness.variants`` of params.yaml) is the default setting with the keys it writes
changed:

* ``recipe``: how the relevance models are pretrained: ``default``, the ``pretrain`` section (the
  pretrain stage's models are reused), or a recipe of ``robustness.recipes`` (e.g. the official
  code's 10 epochs at batch 8096, kept at the lowest *validation* MSE; a fixed longer training, the
  last epoch kept), pretrained here with the same seeds;
* ``similarity``: the item similarity S that DDT is trained with, that the re-rankers use and that
  DRO is measured with: the paper's genre Jaccard, or the cosine of each seed's pretrained item
  embeddings (:mod:`divlib.study.distances`);
* ``eps``: DDRO's soft-rank strength ε (unset: ``diversity.eps``).

Per variant and model, :func:`run_variant` (the robustness stage) fine-tunes DDT as in Q2
(``main_table``'s epochs at the chosen β) and as in Q3 (``gain_beyond_k``'s β and epochs, once per k
of ``robustness.ks``), each run with the seed, and so the batch order, of the same run of the
paper's experiments; re-ranks each pretrained model as the rerank stage does
(:func:`divlib.rerank.rerank_all`); and evaluates every list as the evaluate stage does
(:mod:`divlib.study.evaluation`), under the variant's S.

The verdicts are those of the verdict table's own claim builders
(:func:`divlib.study.verdicts.dominance_claims`, :func:`~divlib.study.verdicts.gain_claims`), called
on each variant's summaries (:func:`variant_claims`), so the table follows whatever rule they
implement. :func:`gain_scatter` draws the pretrained model's diversity beyond k against DDT's gain
there, per recipe.
"""

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import polars as pl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from divlib.errors import DivlibError
from divlib.io import atomic_path, write_json
from divlib.models import load_model
from divlib.rerank import rerank_all
from divlib.study.distances import item_distance
from divlib.study.evaluation import (
    BASE,
    DEVICE,
    RUN_KEYS,
    evaluate_baselines,
    evaluate_models,
    load_evaluation,
    run_means,
    summarize,
)
from divlib.study.experiment import (
    RunSpec,
    describe_run,
    experiment_runs,
    grid_backend,
    learning_rate_named,
    pretrain_seeds,
    record_run_times,
    run_times,
    save_runs,
    train_run,
)
from divlib.study.layout import (
    HERE,
    Layout,
    check_list_lengths,
    load_splits,
    read_parquet,
    read_runs,
    run_file,
    seed_file,
    variant_file,
)
from divlib.study.params import DEFAULT_RECIPE, Diversity, Params, PretrainRecipe
from divlib.study.render import MISSING, Table, is_number
from divlib.study.tables import model_order, summary_row
from divlib.study.verdicts import dominance_claims, gain_claims

Q2, Q3 = "main_table", "gain_beyond_k"  # the experiments whose DDT runs a variant repeats
FIGURE = "robustness_gain_beyond_k"  # the scatter's name under reports/D/figures/
PRETRAINED = "pretrained"  # the row of the pretrained models' own numbers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VariantSetting:
    """A variant resolved: its recipe and that recipe's pretraining settings (None: the pretrain
    stage's models), the item similarity S, the DDRO settings (ε set), the keys the variant writes
    (``changes``) and those its recipe writes (``recipe_changes``)."""

    name: str
    recipe: str
    pretrain: PretrainRecipe | None
    similarity: str
    diversity: Diversity
    changes: dict
    recipe_changes: dict

    @property
    def recipe_only(self) -> bool:
        """It changes the recipe at most, so its DRO is measured with the default's S."""
        return set(self.changes) <= {"recipe"}

    def describe(self) -> str:
        """``recipe long (max_epochs 60, patience none, select last)``, ``similarity
        embedding-cosine``, ``eps 0.0001``; ``as the default`` when it changes nothing."""
        recipe = ", ".join(f"{key} {_text(value)}" for key, value in self.recipe_changes.items())
        parts = [
            f"{key} {_text(value)}" + (f" ({recipe})" if key == "recipe" and recipe else "")
            for key, value in self.changes.items()
        ]
        return "; ".join(parts) or "as the default"

    def record(self) -> dict:
        """What variant.json holds (and, for a recipe, its models' record per seed)."""
        return {
            "variant": self.name,
            "changes": self.changes,
            "recipe": self.recipe,
            "recipe_changes": self.recipe_changes,
            "pretrain": None if self.pretrain is None else self.pretrain.model_dump(),
            "similarity": self.similarity,
            "diversity": self.diversity.model_dump(),
        }


def _text(value: object) -> str:
    return "none" if value is None else str(value)


def variant_setting(params: Params, name: str) -> VariantSetting:
    """The variant ``name`` of ``robustness.variants``, resolved against the ``pretrain`` and
    ``diversity`` sections; a DivlibError if params.yaml has no such variant."""
    variants = params.robustness.variants
    if name not in variants:
        raise DivlibError(
            f"robustness.variants has no variant {name!r}; its variants are "
            f"{', '.join(variants)}: run one of them, or add {name} there"
        )
    variant = variants[name]
    changes = variant.model_dump(include=variant.model_fields_set)
    pretrain, written = None, {}
    if variant.recipe != DEFAULT_RECIPE:
        recipe = params.robustness.recipes[variant.recipe]
        written = recipe.model_dump(include=recipe.model_fields_set)
        settings = params.pretrain.model_dump() | {"select": "best"} | written
        pretrain = PretrainRecipe.model_validate(settings)
    diversity = params.diversity
    if variant.eps is not None:
        diversity = diversity.model_copy(update={"eps": variant.eps})
    return VariantSetting(
        name, variant.recipe, pretrain, variant.similarity, diversity, changes, written
    )


def variant_runs(
    params: Params, setting: VariantSetting, *, dataset: str, model: str, bases: Path | None
) -> list[RunSpec]:
    """The DDT runs of a variant: Q2's (``main_table``'s epochs at the chosen β) and Q3's
    (``gain_beyond_k``'s β and epochs, one per k of ``robustness.ks``), over the robustness seeds,
    named and seeded as the same runs of those experiments; each from the model pretrained with its
    seed in ``bases`` (None: the pretrain stage's) and trained with the variant's S and ε."""
    ddt = {"models": [model], "methods": ["ddt"], "seeds": params.robustness_seeds}
    runs = params.model_copy(
        update={
            "diversity": setting.diversity,
            Q2: params.main_table.model_copy(update=ddt | {"betas": [params.chosen_beta]}),
            Q3: params.gain_beyond_k.model_copy(update=ddt | {"ks": list(params.robustness.ks)}),
        }
    )
    specs = [
        spec
        for experiment in (Q2, Q3)
        for spec in experiment_runs(runs, experiment, dataset=dataset, model=model)
    ]
    return [
        replace(
            spec,
            base=None if bases is None else seed_file(bases, spec.seed),
            similarity=setting.similarity,
        )
        for spec in specs
    ]


def evaluated_ks(params: Params) -> list[int]:
    """The ks a variant is evaluated at: Q2's (``diversity.k``) and Q3's (``robustness.ks``)."""
    return sorted({params.diversity.k, *params.robustness.ks})


def evaluate_variant(
    params: Params,
    setting: VariantSetting,
    *,
    dataset: str,
    model: str,
    folder: Path,
    bases: Path | None,
    layout: Layout = HERE,
) -> dict[str, pl.DataFrame]:
    """Evaluate a variant's pretrained models (``bases``; None: the pretrain stage's), their
    re-rankings and its runs (``folder``'s ``runs``), under the variant's S, at
    :func:`evaluated_ks`: every seed's lists are measured with the distance of that seed's model.

    Returns the frames of :data:`~divlib.study.layout.VARIANT_FILES`: ``main_table`` (the summary of
    the pretrained models, the re-rankers and Q2's runs), ``gain_beyond_k`` (of the pretrained models
    and Q3's runs) and ``seeds`` (their per-seed means over users, column ``experiment``)."""
    ks = evaluated_ks(params)
    data, never = load_evaluation(layout, dataset)
    runs = read_runs(variant_file(folder, "runs"))
    users: dict[str, list[pl.DataFrame]] = {"baselines": [], Q2: [], Q3: []}
    for seed in params.robustness_seeds:
        path = layout.base(dataset, model, seed) if bases is None else seed_file(bases, seed)
        base, _ = load_model(path)
        distance = item_distance(setting.similarity, layout=layout, dataset=dataset, model=base)
        measured = replace(data, distance=distance)
        lists = rerank_all(
            base,
            never,
            distance,
            data.categories,
            pool=params.rerank.pool,
            length=2 * max(ks),
            mmr_lambdas=params.rerank.mmr_lambdas,
            dpp_thetas=params.rerank.dpp_thetas,
            device=DEVICE,
        )
        users["baselines"].append(
            evaluate_baselines(
                base, lists, measured, never, seed=seed, ks=ks, device=DEVICE
            ).per_user
        )
        for experiment in (Q2, Q3):
            trained = [
                ({key: record[key] for key in RUN_KEYS}, load_model(run_file(run, "selected"))[0])
                for run, record in runs
                if record["experiment"] == experiment and record["seed"] == seed
            ]
            users[experiment].append(evaluate_models(trained, measured, never, ks=ks).per_user)
    baselines = _tagged(users.pop("baselines"), dataset, model)
    bases_only = baselines.filter(pl.col("method") == BASE["method"])
    compared = {
        Q2: pl.concat([baselines, _tagged(users[Q2], dataset, model)], how="diagonal_relaxed"),
        Q3: pl.concat([bases_only, _tagged(users[Q3], dataset, model)], how="diagonal_relaxed"),
    }
    seeds = pl.concat(
        [
            run_means(rows).select(pl.lit(name).alias("experiment"), pl.all())
            for name, rows in compared.items()
        ],
        how="diagonal_relaxed",
    )
    return {name: summarize(rows) for name, rows in compared.items()} | {"seeds": seeds}


def _tagged(frames: list[pl.DataFrame], dataset: str, model: str) -> pl.DataFrame:
    rows = pl.concat(frames, how="diagonal_relaxed")
    return rows.select(pl.lit(dataset).alias("dataset"), pl.lit(model).alias("model"), pl.all())


# The stage's work: the one call of stages/robustness.py.


def run_variant(
    params: Params, variant: str, *, dataset: str, model: str, layout: Layout = HERE
) -> None:
    """The ``robustness`` stage: one variant of the robustness table for one dataset and model.
    Pretrains the variant's recipe (if it has its own) once per seed, fine-tunes its DDT runs
    (:func:`variant_runs`) on the grid of ``params.grid``, evaluates them with the pretrained models
    and their re-rankings (:func:`evaluate_variant`). Writes ``data/robustness/D/M/V/`` (all or
    nothing; :data:`~divlib.study.layout.VARIANT_FILES`); the runs' devices and wall times go to
    ``times/D/M/robustness-V.json``."""
    start = time.perf_counter()
    setting = variant_setting(params, variant)
    train, val = load_splits(layout, dataset, "train", "val")
    ks = {"robustness.ks": max(params.robustness.ks), "diversity.k": params.diversity.k}
    lengths = {f"{key} (ranks 1..2k)": 2 * k for key, k in ks.items()}  # as evaluated
    check_list_lengths(lengths, train.seen() | val.seen(), excluded="training or validation")
    root = Layout(layout.root.resolve())  # runs read their inputs at absolute paths (Ray)
    with atomic_path(layout.robustness(dataset, model, variant)) as out:
        out.mkdir(parents=True)
        bases, pretrained = None, None
        if setting.pretrain is not None:
            bases = variant_file(out, "bases").resolve()
            pretrained = pretrain_seeds(
                setting.pretrain,
                params.robustness_seeds,
                params.grid,
                dataset=dataset,
                model=model,
                folder=bases,
                layout=layout,
            )
        specs = variant_runs(params, setting, dataset=dataset, model=model, bases=bases)
        grid, where = grid_backend(params.grid)
        log.info(
            "robustness %s: %d runs on %s (%s)", variant, len(specs), where, setting.describe()
        )
        with learning_rate_named("finetune.lr", params.finetune.lr):
            outcomes = grid(partial(train_run, layout=root), specs, describe=describe_run)
        save_runs(variant_file(out, "runs"), specs, outcomes)
        frames = evaluate_variant(
            params, setting, dataset=dataset, model=model, folder=out, bases=bases, layout=layout
        )
        for name, frame in frames.items():
            frame.write_parquet(variant_file(out, name))
        write_json(setting.record() | {"pretrained": pretrained}, variant_file(out, "setting"))
    times = layout.times(dataset, model, f"robustness-{variant}")
    record_run_times(run_times(specs, outcomes), times)
    seconds = time.perf_counter() - start
    log.info("%s/%s robustness %s: %d runs in %.1f s", dataset, model, variant, len(specs), seconds)


# The table (the tables stage) and the scatter (the figures stage).


def read_variant(layout: Layout, dataset: str, model: str, variant: str) -> dict[str, pl.DataFrame]:
    """A variant's frames as :func:`evaluate_variant` returned them."""
    folder = layout.robustness(dataset, model, variant)
    paths = {name: variant_file(folder, name) for name in (Q2, Q3, "seeds")}
    missing = [path for path in paths.values() if not path.is_file()]
    if missing:
        raise DivlibError(
            f"{missing[0]} is missing: run the robustness stage of {dataset}/{model}/{variant} "
            "first (dvc repro robustness)"
        )
    return {name: read_parquet(path) for name, path in paths.items()}


def variant_claims(
    frames: Mapping[str, pl.DataFrame],
    *,
    model: str,
    k: int,
    beta: float,
    gain_beta: float,
    ks: Sequence[int],
) -> list[tuple[str, str]]:
    """``(row, cell)`` pairs of one variant and model: the pretrained models' numbers, then each
    claim of :func:`~divlib.study.verdicts.dominance_claims` (Q2, at ``k`` and the chosen
    ``beta``) and :func:`~divlib.study.verdicts.gain_claims` (Q3, at ``ks`` and ``gain_beta``) on the
    variant's summaries, as "verdict (comparisons): key numbers"."""
    main, gains = (frames[name].filter(pl.col("model") == model) for name in (Q2, Q3))
    rows = [(f"{model.upper()} {PRETRAINED}: test MSE; DRO on ranks k+1..2k", _base_key(gains, ks))]
    means = frames["seeds"].filter((pl.col("experiment") == Q2) & (pl.col("model") == model))
    for claim in dominance_claims(means.drop("experiment"), k=k, betas=[beta], published=None):
        ddt = summary_row(main, model=model, method="ddt", k=k, param=beta)
        rows.append((claim["claim"], _cell(claim, _dominance_key(ddt, k))))
    for claim in gain_claims(gains, ks=ks, beta=gain_beta, published=None):
        cells = {
            k: summary_row(gains, model=model, method="ddt", k=k, param=gain_beta, train_k=k)
            for k in ks
        }
        rows.append((claim["claim"], _cell(claim, _gain_key(cells))))
    return rows


def _cell(claim: dict, key: str) -> str:
    """``partly (4): k = 10: +5.1 / +2.3; k = 30: +3 / -4.2 pp``."""
    return f"{claim['verdict']} ({claim['comparisons']}): {key}"


def _dominance_key(ddt: dict | None, k: int) -> str:
    """Q2's key numbers: DDT's DRO@k, relevance (eq. 12) and precision@k, means over seeds, to 3
    significant digits (DRO under an embedding S can be small)."""
    if ddt is None:
        return "no DDT run"
    values = [("DRO@", "dro"), ("relevance@", "relevance"), ("precision@", "precision")]
    return ", ".join(
        f"{label}{k} {ddt[column]:#.3g}" for label, column in values if is_number(ddt.get(column))
    )


def _gain_key(cells: Mapping[int, dict | None]) -> str:
    """Q3's key numbers: DDT's mean DRO gain within k and beyond k at each k, in points."""
    gains = [
        f"k = {k}: {100 * row['dro_gain']:+.2g} / {100 * row['dro_beyond_gain']:+.2g}"
        for k, row in cells.items()
        if row is not None and is_number(row["dro_gain"]) and is_number(row["dro_beyond_gain"])
    ]
    return f"{'; '.join(gains)} pp" if gains else "no DDT run"


def _base_key(gains: pl.DataFrame, ks: Sequence[int]) -> str:
    """The pretrained models' test MSE and DRO on ranks k+1..2k at each k, means over seeds."""
    rows = {k: summary_row(gains, model=gains["model"][0], method="base", k=k) for k in ks}
    rows = {k: row for k, row in rows.items() if row is not None}
    if not rows:
        return MISSING
    mse = next(iter(rows.values())).get("mse")
    beyond = ", ".join(f"{row['dro_beyond']:#.3g} (k = {k})" for k, row in rows.items())
    return (f"MSE {mse:.3f}; " if is_number(mse) else "") + f"DRO {beyond}"


def claims_table(columns: Mapping[str, Sequence[tuple[str, str]]], caption: str) -> Table:
    """Rows: the row labels of every column's ``(row, cell)`` pairs, in order of first appearance;
    columns: the keys of ``columns`` (variants); :data:`~divlib.study.render.MISSING` where a
    variant lacks a row."""
    cells = {variant: dict(pairs) for variant, pairs in columns.items()}
    labels = list(dict.fromkeys(label for pairs in columns.values() for label, _ in pairs))
    rows = tuple(
        (label, tuple(cells[variant].get(label, MISSING) for variant in columns))
        for label in labels
    )
    return Table(caption, "claim", (), tuple(columns), rows)


def robustness_table(layout: Layout, params: Params, dataset: str) -> Table:
    """The robustness table of ``dataset``: :func:`variant_claims` of every variant (columns) and
    model of ``robustness``, read from the robustness stage's outputs."""
    section, k = params.robustness, params.diversity.k
    settings = {name: variant_setting(params, name) for name in section.variants}
    (gain_beta,) = params.gain_beyond_k.betas
    columns: dict[str, list[tuple[str, str]]] = {name: [] for name in settings}
    for model in model_order(section.models):
        for name in settings:
            frames = read_variant(layout, dataset, model, name)
            columns[name] += variant_claims(
                frames,
                model=model,
                k=k,
                beta=params.chosen_beta,
                gain_beta=gain_beta,
                ks=section.ks,
            )
    variants = "; ".join(f"{name}: {setting.describe()}" for name, setting in settings.items())
    seeds = params.robustness_seeds
    caption = (
        f"Robustness of the verdicts on {dataset} (beyond the paper): Q2 and Q3 judged by the "
        "verdict table's rules under each variant, the default setting (the pretrain section, "
        f"genre-Jaccard S, ε = diversity.eps) with one change. Variants: {variants}. A cell: the "
        "verdict (the comparisons it rests on): for Q2, DDT's DRO@k, relevance (eq. 12, predicted) "
        "and precision@k (held-out ratings); for Q3, DDT's DRO gain over the pretrained model on "
        "ranks 1..k / k+1..2k (points, mean over seeds); DRO is measured with each variant's S. "
        f"Q2: DDT at β = {params.chosen_beta:g}, {params.main_table.epochs} epochs, k = {k}; Q3: DDT "
        f"at β = {gain_beta:g}, {params.gain_beyond_k.epochs} epochs, k = "
        f"{', '.join(map(str, section.ks))}; seed{'s' * (len(seeds) > 1)} "
        f"{', '.join(map(str, seeds))}."
    )
    return claims_table(columns, caption)


def gain_points(seeds: pl.DataFrame) -> pl.DataFrame:
    """Per model, seed and k: the pretrained model's DRO on ranks k+1..2k (``base_beyond``) and the
    DRO gain there of DDT fine-tuned for k over the model of its seed (``gain_beyond``, points),
    from a variant's per-seed means (:data:`~divlib.study.layout.VARIANT_FILES` ``seeds``)."""
    q3 = seeds.filter(pl.col("experiment") == Q3)
    keys = ["model", "seed", "k"]
    base = q3.filter(pl.col("method") == BASE["method"]).select(
        *keys, pl.col("dro_beyond").alias("base_beyond")
    )
    ddt = q3.filter(pl.col("method") == "ddt", pl.col("k") == pl.col("train_k"))
    return (
        ddt.select(*keys, "dro_beyond")
        .join(base, on=keys, how="inner", maintain_order="left")
        .select(
            *keys,
            "base_beyond",
            (100 * (pl.col("dro_beyond") - pl.col("base_beyond"))).alias("gain_beyond"),
        )
        .sort(keys)
    )


def recipe_points(layout: Layout, params: Params, dataset: str) -> pl.DataFrame:
    """:func:`gain_points` of every variant that changes the pretraining recipe at most (their DRO
    is measured with the same S), column ``variant`` first, for every model of ``robustness``."""
    frames = [
        gain_points(read_variant(layout, dataset, model, name)["seeds"]).select(
            pl.lit(name).alias("variant"), pl.all()
        )
        for model in model_order(params.robustness.models)
        for name in params.robustness.variants
        if variant_setting(params, name).recipe_only
    ]
    return pl.concat(frames) if frames else pl.DataFrame()


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r of ``x`` and ``y``; NaN for fewer than 3 points or a constant."""
    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


def gain_scatter(points: pl.DataFrame) -> Figure:
    """The pretrained model's DRO on ranks k+1..2k against DDT's DRO gain there (points), one point
    per seed, one colour per variant (recipe), one panel per model and k; each panel's title gives
    Pearson's r over its points."""
    fig = Figure(figsize=(4.2 * max(points["k"].n_unique(), 1), 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    if points.is_empty():
        fig.text(0.5, 0.5, "no robustness variant changes only the recipe", ha="center")
        return fig
    panels = points.select("model", "k").unique(maintain_order=True).sort("model", "k").rows()
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    variants = points["variant"].unique(maintain_order=True).to_list()
    colors = {name: f"C{i}" for i, name in enumerate(variants)}
    for ax, (model, k) in zip(axes, panels, strict=True):
        panel = points.filter(pl.col("model") == model, pl.col("k") == k)
        for name in variants:
            rows = panel.filter(pl.col("variant") == name)
            ax.scatter(
                rows["base_beyond"],
                rows["gain_beyond"],
                color=colors[name],
                label=name,
                s=28,
                alpha=0.85,
            )
        ax.axhline(0.0, color="grey", linewidth=0.8, linestyle=":")
        r = pearson(panel["base_beyond"].to_numpy(), panel["gain_beyond"].to_numpy())
        shown = "r –" if not is_number(r) else f"r = {r:+.2f}"
        runs = f"{panel.height} run" + "s" * (panel.height != 1)
        ax.set_title(f"{model.upper()}, k = {k}: {shown} ({runs})", fontsize=10)
        ax.set_xlabel(f"pretrained DRO on ranks {k + 1}..{2 * k}")
        ax.set_ylabel(f"DDT's DRO gain on ranks {k + 1}..{2 * k} (points)")
    axes[0].legend(title="recipe", fontsize=8, title_fontsize=8)
    return fig
