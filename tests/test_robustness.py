"""The robustness table: variants resolved from params.yaml, their runs named and seeded as the paper's
experiments' runs, a run trained and measured with the embedding similarity, the table's cells the
verdict builders' own verdicts on each variant's frames, the scatter's points; bad params named."""

import copy
from pathlib import Path

import polars as pl
import pytest
import torch
import yaml
from projects import synthetic_project
from reference import brute_cosine_distance, brute_dro

from divlib.errors import DivlibError
from divlib.models import load_model
from divlib.study.evaluation import run_means, summarize
from divlib.study.experiment import experiment_runs, train_run
from divlib.study.layout import Layout, load_splits
from divlib.study.params import parse_params
from divlib.study.render import MISSING
from divlib.study.robustness import (
    claims_table,
    gain_points,
    gain_scatter,
    pearson,
    read_variant,
    variant_claims,
    variant_runs,
    variant_setting,
)
from divlib.study.verdicts import dominance_claims, gain_claims

PARAMS = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())


def parsed(change=None):
    raw = copy.deepcopy(PARAMS)
    if change is not None:
        change(raw)
    return parse_params(raw)


def robustness(**values):
    """A change of params.yaml's robustness section."""
    return lambda p: p["robustness"].update(values)


# Variants resolved


def test_a_recipe_changes_the_keys_it_writes_of_the_pretrain_section():
    params = parsed()
    official, long = variant_setting(params, "official"), variant_setting(params, "long")
    kept = params.pretrain.model_dump(exclude={"max_epochs", "batch_size", "patience"})
    assert official.pretrain.model_dump() == kept | {
        "max_epochs": 10,
        "batch_size": 8096,
        "patience": None,
        "select": "best",
    }
    assert long.pretrain.select == "last" and long.pretrain.max_epochs == 60
    assert long.pretrain.patience is None and long.pretrain.batch_size == params.pretrain.batch_size
    assert official.describe() == (
        "recipe official (max_epochs 10, batch_size 8096, patience none)"
    )
    for setting in (official, long):
        assert setting.similarity == "genre-jaccard" and setting.diversity == params.diversity


def test_the_default_reuses_the_pretrained_models_and_one_change_makes_each_other_variant():
    params = parsed()
    default, cosine = (
        variant_setting(params, "default"),
        variant_setting(params, "embedding-cosine"),
    )
    eps = variant_setting(params, "eps-1e-4")
    assert default.pretrain is None and default.describe() == "as the default"
    assert cosine.pretrain is None and cosine.similarity == "embedding-cosine"
    assert eps.diversity == params.diversity.model_copy(update={"eps": 1e-4})
    only_recipe = [
        name for name in params.robustness.variants if variant_setting(params, name).recipe_only
    ]
    assert only_recipe == ["default", "official", "long"]  # the scatter's: DRO under one S


def test_an_unknown_variant_is_named_with_the_variants_there_are():
    with pytest.raises(
        DivlibError,
        match=(
            r"^robustness.variants has no variant 'cosine'; its variants are default, official, long, "
            r"embedding-cosine, eps-1e-4: run one of them, or add cosine there$"
        ),
    ):
        variant_setting(parsed(), "cosine")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda p: p["robustness"]["variants"].update(official={"recipe": "oficial"}),
            "robustness.variants.official.recipe: 'oficial' is not a recipe; write one of default, "
            "official, long (robustness.recipes)",
        ),
        (
            lambda p: p["robustness"]["variants"].update(official={"recip": "official"}),
            "robustness.variants.official.recip: unknown key; the keys here are recipe, similarity, "
            "eps",
        ),
        (
            lambda p: p["robustness"]["variants"].update(cos={"similarity": "cosine"}),
            "robustness.variants.cos.similarity: Input should be 'genre-jaccard' or "
            "'embedding-cosine' (got 'cosine')",
        ),
        (
            lambda p: p["robustness"]["variants"].update({"eps.1": {"eps": 0.1}}),
            "robustness.variants.eps.1: String should match pattern",
        ),
        (robustness(variants={}), "robustness.variants: Dictionary should have at least 1 item"),
        (
            robustness(seeds=[]),
            "robustness.seeds: List should have at least 1 item after validation, not 0 (got [])",
        ),
        (
            robustness(seeds=[1, 11]),
            "robustness.seeds: 11 is not pretrained (top-level seeds: 1, 2, "
            "3); add it there or remove it here",
        ),
        (
            robustness(models=["mf"]),
            "robustness.models: 'mf' is not pretrained (top-level models: "
            "nmf, ncf); add it there or remove it here",
        ),
        (
            lambda p: p["robustness"]["recipes"]["official"].update(epochs=3),
            "robustness.recipes.official.epochs: unknown key; the keys here are max_epochs, lr, "
            "batch_size, weight_decay, l2, patience, select, dim",
        ),
        (
            lambda p: p["robustness"]["recipes"]["long"].update(select="first"),
            "robustness.recipes.long.select: Input should be 'best' or 'last' (got 'first')",
        ),
        (
            lambda p: p["robustness"]["recipes"]["official"].update(max_epochs=0),
            "robustness.recipes.official.max_epochs: Input should be greater than or equal to 1",
        ),
        (
            lambda p: p["robustness"]["recipes"].update(default={"max_epochs": 3}),
            "robustness.recipes.default: default is the pretrain section itself; give this recipe "
            "another name",
        ),
        (
            robustness(ks=[10, 150]),
            "rerank.pool: 200 candidates are fewer than the 300 items a "
            "re-ranked list of the robustness table holds",
        ),
        (lambda p: p.pop("robustness"), "params.yaml: robustness: missing"),
    ],
)
def test_bad_robustness_params_are_one_line_naming_the_key_and_the_fix(change, message):
    error = pytest.raises(DivlibError, parsed, change).value
    assert message in str(error) and "\n" not in str(error)


def test_robustness_seeds_all_are_the_top_level_seeds():
    assert parsed(robustness(seeds="all")).robustness_seeds == [1, 2, 3]


# A variant's runs


def test_a_variants_runs_are_the_papers_runs_with_the_variants_change():
    params = parsed()
    chosen, (gain_beta,) = params.chosen_beta, params.gain_beyond_k.betas
    specs = variant_runs(
        params, variant_setting(params, "default"), dataset="ml-100k", model="nmf", bases=None
    )
    seeds = params.robustness_seeds
    assert [spec.name for spec in specs] == [f"ddt-beta{chosen}-seed{s}" for s in seeds] + [
        f"ddt-beta{gain_beta}-k{k}-seed{s}" for k in params.robustness.ks for s in seeds
    ]
    paper = {
        spec.name: spec
        for experiment in ("main_table", "gain_beyond_k")
        for spec in experiment_runs(params, experiment, dataset="ml-100k", model="nmf")
    }
    shared = [spec for spec in specs if spec.name in paper]
    assert len(shared) == len(specs)  # robustness.seeds: main_table's
    for spec in shared:  # same seed, epochs, β, k: the same run as the paper's experiment
        assert spec.options == paper[spec.name].options
        assert (
            spec.diversity == paper[spec.name].diversity
            and spec.identity == paper[spec.name].identity
        )
        assert spec.base is None and spec.similarity == "genre-jaccard"


def test_a_variants_runs_start_from_its_own_models_with_its_similarity_and_eps():
    params = parsed()
    recipe = variant_runs(
        params, variant_setting(params, "long"), dataset="d", model="nmf", bases=Path("bases")
    )
    assert {spec.base for spec in recipe} == {Path("bases") / f"seed{s}.pt" for s in (1, 2)}
    assert all(spec.base.name == f"seed{spec.seed}.pt" for spec in recipe)
    cosine = variant_runs(
        params, variant_setting(params, "embedding-cosine"), dataset="d", model="nmf", bases=None
    )
    assert {spec.similarity for spec in cosine} == {"embedding-cosine"}
    eps = variant_runs(
        params, variant_setting(params, "eps-1e-4"), dataset="d", model="nmf", bases=None
    )
    assert {spec.diversity.eps for spec in eps} == {1e-4}
    assert sorted({spec.diversity.k for spec in eps}) == sorted({10, *params.robustness.ks})
    assert {spec.options.method for spec in eps} == {"ddt"}


@pytest.fixture(scope="module")
def layout(tmp_path_factory) -> Layout:
    """Dataset "synthetic" prepared, its genre distance, and nmf pretrained (initialised), seed 1."""
    return synthetic_project(
        tmp_path_factory.mktemp("project"), users=40, items=50, ratings=900, categories=5
    )


def test_an_embedding_cosine_run_is_measured_with_its_base_models_item_cosines(layout):
    def tiny(p):
        p["robustness"] |= {"seeds": [1], "ks": [5]}
        p["main_table"] |= {"epochs": 1}
        p["finetune"] |= {"batch_size": 256}

    params = parsed(tiny)
    specs = variant_runs(
        params,
        variant_setting(params, "embedding-cosine"),
        dataset="synthetic",
        model="nmf",
        bases=None,
    )
    record = train_run(specs[0], torch.device("cpu"), layout=layout).record
    base, _ = load_model(layout.base("synthetic", "nmf", 1))
    (train,) = load_splits(layout, "synthetic", "train")
    with torch.no_grad():
        scores = base.score_all(torch.arange(train.n_users)).masked_fill(train.seen(), -torch.inf)
        cosine = brute_cosine_distance(base.item_embeddings())
    expected = sum(brute_dro(scores, cosine, 10)) / train.n_users  # eq. (5) under 1 − cos
    assert record["dro_before"] == pytest.approx(expected, abs=1e-5)
    genre = train_run(
        specs[0].__class__(**vars(specs[0]) | {"similarity": "genre-jaccard"}),
        torch.device("cpu"),
        layout=layout,
    ).record
    assert genre["dro_before"] != pytest.approx(expected, abs=1e-3)  # another S, another DRO


# The table: the builders' verdicts on each variant's frames

SEEDS = (1, 2, 3)
OFFSETS = (-0.01, 0.01, -0.004, 0.004)  # four users around each run's mean (mean exact)


def user_rows(method: str, param, train_k, k: int, **means) -> list[dict]:
    """Per-user rows of one run setting at ``k`` for every seed: each metric its mean + 0.002·seed,
    spread over four users."""
    return [
        {
            "dataset": "toy",
            "model": "nmf",
            "method": method,
            "param": param,
            "train_k": train_k,
            "seed": seed,
            "k": k,
            "user": user,
            **{metric: mean + 0.002 * seed + offset for metric, mean in means.items()},
        }
        for seed in SEEDS
        for user, offset in enumerate(OFFSETS)
    ]


def per_user(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema_overrides={
            "param": pl.Float64,
            "train_k": pl.Int64,
            "seed": pl.Int64,
            "k": pl.Int32,
            "user": pl.Int64,
        },
    )


def metrics(dro, relevance, precision, beyond=None, coverage=0.5, mse=0.9) -> dict:
    return {
        "dro": dro,
        "dro_beyond": dro if beyond is None else beyond,
        "coverage": coverage,
        "relevance": relevance,
        "precision": precision,
        "recall": 2 * precision,
        "ndcg": precision,
        "mse": mse,
    }


BASE_AT = {10: metrics(0.70, 0.90, 0.030, beyond=0.72), 30: metrics(0.75, 0.89, 0.020, beyond=0.76)}
RERANKERS = {
    "mmr-paper": metrics(0.80, 0.85, 0.025),
    "dpp-paper": metrics(0.82, 0.84, 0.024),
    "dum": metrics(0.85, 0.83, 0.020),
}


def variant_frames(ddt: dict, beyond_gain: float) -> dict[str, pl.DataFrame]:
    """A variant's frames as the robustness stage writes them, from hand-made per-user rows: Q2's
    DDT at k = 10 with ``ddt``'s means; Q3's DDT at k = 10 and 30, 0.2 above the pretrained model
    within k and ``beyond_gain`` above it beyond k."""
    bases = [
        row for k, means in BASE_AT.items() for row in user_rows("base", None, None, k, **means)
    ]
    rerankers = [
        row
        for method, means in RERANKERS.items()
        for row in user_rows(method, None, None, 10, **means)
    ]
    q2 = per_user(bases + rerankers + user_rows("ddt", 0.2, 10, 10, **ddt))
    trained = [
        row
        for k, means in BASE_AT.items()
        for row in user_rows(
            "ddt",
            0.5,
            k,
            k,
            **means | {"dro": means["dro"] + 0.2, "dro_beyond": means["dro_beyond"] + beyond_gain},
        )
    ]
    q3 = per_user(bases + trained)
    seeds = pl.concat(
        [
            run_means(q2).select(pl.lit("main_table").alias("experiment"), pl.all()),
            run_means(q3).select(pl.lit("gain_beyond_k").alias("experiment"), pl.all()),
        ]
    )
    return {"main_table": summarize(q2), "gain_beyond_k": summarize(q3), "seeds": seeds}


@pytest.fixture(scope="module")
def holds() -> dict[str, pl.DataFrame]:
    """DDT above every re-ranker in DRO, relevance and precision; gains > 0 within and beyond k."""
    return variant_frames(metrics(0.95, 0.95, 0.035), beyond_gain=0.05)


@pytest.fixture(scope="module")
def fails() -> dict[str, pl.DataFrame]:
    """MMR (and DPP) above DDT in all three; gains < 0 beyond k."""
    return variant_frames(metrics(0.75, 0.84, 0.010), beyond_gain=-0.05)


@pytest.mark.parametrize("case", ["holds", "fails"])
def test_each_cell_is_the_verdict_the_builders_give_on_the_variants_frames(case, request):
    frames = request.getfixturevalue(case)
    cells = variant_claims(frames, model="nmf", k=10, beta=0.2, gain_beta=0.5, ks=[10, 30])
    means = frames["seeds"].filter(pl.col("experiment") == "main_table").drop("experiment")
    q2 = dominance_claims(means, k=10, betas=[0.2], published=None)
    q3 = gain_claims(frames["gain_beyond_k"], ks=[10, 30], beta=0.5, published=None)
    assert [label for label, _ in cells[1:]] == [claim["claim"] for claim in q2 + q3]
    for (_, cell), claim in zip(cells[1:], q2 + q3, strict=True):
        assert cell.startswith(f"{claim['verdict']} ({claim['comparisons']}): ")


def test_a_claim_that_fails_under_one_variant_differs_in_its_column(holds, fails):
    settings = {"model": "nmf", "k": 10, "beta": 0.2, "gain_beta": 0.5, "ks": [10, 30]}
    a, b = variant_claims(holds, **settings), variant_claims(fails, **settings)
    table = claims_table({"a": a, "b": b}, "caption")
    assert [label for label, _ in table.rows] == [label for label, _ in a]
    for label, (a, b) in table.rows[1:]:  # each claim: reproduced under a, not under b
        assert a.split(" (")[0] != b.split(" (")[0], label
    # the key numbers, hand-worked: DDT's means over seeds 1..3 (+0.002·seed: +0.004 on average)
    q2 = table.rows[1][1][0]
    assert q2.endswith(
        f"DRO@10 {0.95 + 0.004:#.3g}, relevance@10 {0.95 + 0.004:#.3g}, "
        f"precision@10 {0.035 + 0.004:#.3g}"
    )
    assert table.rows[2][1][1].endswith("k = 10: +20 / -5; k = 30: +20 / -5 pp")
    base = table.rows[0][1][0]  # the pretrained models: test MSE, DRO on ranks k+1..2k
    assert (
        base
        == f"MSE {0.9 + 0.004:.3f}; DRO {0.72 + 0.004:#.3g} (k = 10), {0.76 + 0.004:#.3g} (k = 30)"
    )


def test_the_table_keeps_every_row_in_order_and_marks_what_a_variant_lacks():
    table = claims_table({"a": [("x", "1"), ("y", "2")], "b": [("z", "3"), ("x", "4")]}, "c")
    assert table.columns == ("a", "b") and table.caption == "c"
    assert table.rows == (("x", ("1", "4")), ("y", ("2", MISSING)), ("z", (MISSING, "3")))


def test_a_variant_not_run_is_named_with_the_stage_to_run(tmp_path):
    with pytest.raises(
        DivlibError,
        match=r"default/main_table.parquet is missing: run the "
        r"robustness stage of toy/nmf/default first",
    ):
        read_variant(Layout(tmp_path), "toy", "nmf", "default")


# The scatter


def test_gain_points_pair_each_run_with_the_model_pretrained_with_its_seed(fails):
    points = gain_points(fails["seeds"])
    assert points.columns == ["model", "seed", "k", "base_beyond", "gain_beyond"]
    assert points.height == len(SEEDS) * 2  # one per seed and k; the Q2 run is not a Q3 point
    for row in points.iter_rows(named=True):  # base 0.72 / 0.76 + 0.002·seed; DDT 5 points below
        assert row["base_beyond"] == pytest.approx(
            BASE_AT[row["k"]]["dro_beyond"] + 0.002 * row["seed"]
        )
        assert row["gain_beyond"] == pytest.approx(-5.0)


def test_pearson_r_hand_worked():
    assert pearson([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]) == pytest.approx(1.0)
    assert pearson([1.0, 2.0, 3.0], [3.0, 1.0, 2.0]) == pytest.approx(-0.5)  # cov −1 / (1 · 2)
    assert pearson([1.0, 2.0], [1.0, 2.0]) != pearson([1.0, 2.0], [1.0, 2.0])  # NaN: two points
    assert pearson([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) != 0.0  # NaN: constant


def test_the_scatter_has_a_panel_per_model_and_k_and_a_colour_per_recipe():
    # k = 10: x (0.7, 0.8, 0.9), y (3, 1, 2): centred (−0.1, 0, 0.1)·(1, −1, 0) = −0.1 over
    # √0.02·√2 = 0.2, r = −0.5; k = 30: y = 10·x, r = +1
    points = pl.DataFrame(
        {
            "variant": ["default", "default", "long"] * 2,
            "model": ["nmf"] * 6,
            "seed": [1, 2, 3] * 2,
            "k": [10] * 3 + [30] * 3,
            "base_beyond": [0.7, 0.8, 0.9] * 2,
            "gain_beyond": [3.0, 1.0, 2.0, 7.0, 8.0, 9.0],
        }
    )
    fig = gain_scatter(points)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["NMF, k = 10: r = -0.50 (3 runs)", "NMF, k = 30: r = +1.00 (3 runs)"]
    assert [text.get_text() for text in fig.axes[0].get_legend().get_texts()] == ["default", "long"]
