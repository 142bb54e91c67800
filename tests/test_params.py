"""params.yaml at the boundary: every section strict, every failure one line naming the key path."""

import copy
import dataclasses
from pathlib import Path

import pydantic
import pytest
import yaml

from divlib.errors import DivlibError
from divlib.study.experiment import diversity_options
from divlib.study.params import EXPERIMENTS, Params, parse_params
from divlib.train import DiversityOptions, FinetuneOptions, PretrainOptions

PARAMS = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())


def edited(change) -> dict:
    params = copy.deepcopy(PARAMS)
    change(params)
    return params


def test_the_repository_params_parse():
    params = parse_params(PARAMS)
    assert params.beta_sweep.betas[0] == 0 and params.beta_sweep.betas[-1] == 1  # the control
    assert params.diversity.eps == "auto" and params.finetune.select == "most-diverse"
    assert params.seeds_of("beta_sweep") == params.seeds and len(params.seeds) >= 3
    assert params.seeds_of("training_curves") == params.training_curves.seeds
    assert params.chosen_beta == params.main_table.betas[0] == 0.2
    assert (params.case_study.rule, params.case_study.min_train_ratings) == ("largest-dro-gain", 20)


def test_the_chosen_beta_is_the_first_of_the_main_table():
    params = parse_params(edited(lambda p: p["main_table"].update(betas=[0.3, 0.2])))
    assert params.chosen_beta == 0.3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda p: p["beta_sweep"].update(beats=[0.5]),
            "params.yaml: beta_sweep.beats: unknown key; the keys here are models, epochs, seeds,",
        ),
        (
            lambda p: p["finetune"].update(epochs=3),
            "finetune.epochs: unknown key; the keys here are lr, batch_size,",
        ),
        (lambda p: p.update(finetuen={}), "finetuen: unknown key; the keys here are datasets"),
        (lambda p: p["main_table"].pop("epochs"), "main_table.epochs: missing; add it"),
        (lambda p: p.pop("rerank"), "params.yaml: rerank: missing"),
        (
            lambda p: p["beta_sweep"].update(betas=[]),
            "beta_sweep.betas: List should have at least 1 item after validation, not 0 (got [])",
        ),
        (lambda p: p["evaluate"].update(ks=[]), "evaluate.ks: List should have at least 1 item"),
        (
            lambda p: p["beta_sweep"].update(betas=[0.2, 1.5]),
            "beta_sweep.betas.1: Input should be less than or equal to 1 (got 1.5)",
        ),
        (
            lambda p: p["beta_sweep"].update(methods=["ddt", "dtt"]),
            "beta_sweep.methods.1: Input should be 'ddt', 'ddt-adaptive' or 'mdr' (got 'dtt')",
        ),
        (
            lambda p: p["adaptive_beta"].update(rules=["min-norm", "mean"]),
            "adaptive_beta.rules.1: Input should be 'min-norm', 'min-norm-adam' or 'normalized'",
        ),
        (
            lambda p: p["training_curves"].update(seeds="some"),
            "training_curves.seeds: Input should be a valid list (got 'some') or Input should be 'all'",
        ),
        (
            lambda p: p["finetune"].update(select="first"),
            "finetune.select: Input should be 'last', 'best' or 'most-diverse' (got 'first')",
        ),
        (
            lambda p: p["diversity"].update(eps=-1),
            "diversity.eps: Input should be greater than 0 (got -1) or Input should be 'auto'",
        ),
        (
            lambda p: p["diversity"].update(k=1),
            "diversity.k: Input should be greater than or equal to 2",
        ),
        (lambda p: p.update(finetune=[1]), "finetune: must be a mapping of keys; got [1]"),
        (
            lambda p: p["gain_beyond_k"].update(epochs=None),
            "gain_beyond_k.epochs: Input should be a valid integer (got None)",
        ),
        (
            lambda p: p["pretrain"].update(patience=0),
            "pretrain.patience: Input should be greater than or equal to 1 (got 0)",
        ),
        (lambda p: p["diversity"].update(top_m=10), "diversity: top_m = 10 must exceed k = 10"),
        (
            lambda p: p["case_study"].update(rule="random"),
            "case_study.rule: Input should be 'largest-dro-gain' or 'most-concentrated' (got 'random')",
        ),
        (
            lambda p: p["case_study"].update(min_train_ratings=0),
            "case_study.min_train_ratings: Input should be greater than or equal to 1 (got 0)",
        ),
    ],
)
def test_a_bad_section_is_one_line_naming_the_key(change, message):
    with pytest.raises(DivlibError) as caught:
        parse_params(edited(change))
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("data", "found"),
    [(None, "empty"), ([1, 2], "[1, 2] (list)"), ("datasets", "'datasets' (str)"), (3, "3 (int)")],
)
def test_a_file_that_is_not_a_mapping_is_one_line(data, found):
    with pytest.raises(DivlibError) as caught:
        parse_params(data, source="params.yaml")  # yaml.safe_load gives None for an empty file
    message = str(caught.value)
    assert message.startswith(f"params.yaml: is {found}, not a mapping of the sections datasets, ")
    assert message.endswith("; restore it with git checkout -- params.yaml")
    assert all(section in message for section in PARAMS) and "\n" not in message


def setting(path: str, value):
    """A change that sets the key at the dotted ``path`` to ``value``."""

    def change(params):
        *parents, key = path.split(".")
        for parent in parents:
            params = params[parent]
        params[key] = value

    return change


def both(*changes):
    return lambda params: [change(params) for change in changes]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # a section that is not a mapping, or a value of the wrong type or shape
        (setting("diversity", None), "params.yaml: diversity: must be a mapping of keys; got None"),
        (setting("rerank", [[1]]), "params.yaml: rerank: must be a mapping of keys; got [[1]]"),
        (
            setting("datasets", "ml-100k"),
            "params.yaml: datasets: Input should be a valid list (got 'ml-100k')",
        ),
        (
            setting("seeds", [[1]]),
            "params.yaml: seeds.0: Input should be a valid integer (got [1])",
        ),
        (
            setting("evaluate.ks", [[5]]),
            "params.yaml: evaluate.ks.0: Input should be a valid integer",
        ),
        (setting("models", []), "params.yaml: models: List should have at least 1 item"),
        (
            setting("beta_sweep.epochs", True),
            "params.yaml: beta_sweep.epochs: must be a number, not true",
        ),
        (setting("data.seed", False), "params.yaml: data.seed: must be a number, not false"),
        (
            setting("finetune.lr", float("nan")),
            "params.yaml: finetune.lr: Input should be a finite number (got nan)",
        ),
        (
            setting("pretrain.weight_decay", float("inf")),
            "params.yaml: pretrain.weight_decay: Input should be a finite number (got inf)",
        ),
        (
            setting("sensitivity.beta", None),
            "params.yaml: sensitivity.beta: Input should be a valid number (got None)",
        ),
        (
            setting("pretrain.lr", -1),
            "params.yaml: pretrain.lr: Input should be greater than 0 (got -1)",
        ),
        (
            setting("diversity.k", 0),
            "params.yaml: diversity.k: Input should be greater than or equal to 2 (got 0)",
        ),
        (
            setting("diversity.eps", 0),
            "params.yaml: diversity.eps: Input should be greater than 0 (got 0) or Input should be 'auto'",
        ),
        (
            setting("main_table.betas", [-0.1]),
            "params.yaml: main_table.betas.0: Input should be greater than or equal to 0 (got -0.1)",
        ),
        (
            setting("grid.devices", ["gpu0"]),
            "params.yaml: grid.devices: Input should be 'auto' (got ['gpu0']); grid.devices.0: "
            "'gpu0' is not a torch device; write e.g. cpu or cuda:0",
        ),
        (
            setting("grid.backend", "slurm"),
            "params.yaml: grid.backend: Input should be 'local' or 'ray' (got 'slurm')",
        ),
        (
            setting("grid.address", "ray://head:10001"),
            "params.yaml: grid.address: 'ray://head:10001' is not a Ray cluster's address; write the "
            "head's HOST:PORT (e.g. 10.0.0.1:6379), auto, or leave it empty",
        ),
        (
            setting("data.options.synthetic.users", "many"),
            "params.yaml: data.options.synthetic.users: Input should be a valid integer, unable to parse",
        ),
        (lambda p: p.update({1: 2}), "params.yaml: 1: Keys should be strings (got 1)"),
        # unknown keys
        (
            setting("data.sourcse", {}),
            "params.yaml: data.sourcse: unknown key; the keys here are seed,",
        ),
        (
            setting("sensitivity.k", 5),
            "params.yaml: sensitivity.k: unknown key; the keys here are model,",
        ),
        # a list that repeats a setting
        (
            setting("seeds", [1, 2, 1]),
            "params.yaml: seeds: lists 1 more than once; list each value once",
        ),
        (
            setting("main_table.betas", [0.2, 0.2]),
            "params.yaml: main_table.betas: lists 0.2 more than once; list each value once",
        ),
        (
            setting("rerank.dpp_thetas", [None, None]),
            "params.yaml: rerank.dpp_thetas: lists None more than once",
        ),
        (
            setting("dgrec.beta_class", 1),
            "params.yaml: dgrec.beta_class: Input should be less than 1 (got 1)",
        ),
        (
            setting("dgrec.similarity", "cosine"),
            "params.yaml: dgrec.similarity: Input should be 'embedding' or 'genre-jaccard'",
        ),
        # keys that must agree with each other
        (
            setting("datasets", ["ml-100k", "ml-20m"]),
            "params.yaml: datasets: 'ml-20m' is not a dataset divlib knows; the datasets are ml-100k,",
        ),
        (
            both(setting("datasets", ["coat"]), lambda p: p["data"]["sources"].pop("coat")),
            "params.yaml: datasets: 'coat' has no data.sources.coat; add it or remove coat here",
        ),
        (
            setting("data.sources.ml-100k", "kaggle"),
            "params.yaml: data.sources.ml-100k: 'kaggle' is not a source of ml-100k; write one of "
            "package-mirror, grouplens",
        ),
        (
            setting("data.sources.ml-20m", "grouplens"),
            "params.yaml: data.sources.ml-20m: not a dataset divlib knows; the datasets are ml-100k,",
        ),
        (
            setting("data.options.netflix", {"users": 5000}),
            "params.yaml: data.options.netflix: has ['users']; netflix takes users, min_ratings, seed",
        ),
        (
            both(setting("datasets", ["netflix"]), lambda p: p["data"]["options"].pop("netflix")),
            "params.yaml: data.options.netflix: has none; netflix takes users, min_ratings, seed",
        ),
        (
            setting("data.options.ml-100k", {"seed": 1}),
            "params.yaml: data.options.ml-100k: has ['seed']; ml-100k takes none ({})",
        ),
        (
            setting("models", ["nmf", "svd"]),
            "params.yaml: models.1: Input should be 'nmf', 'mf' or 'ncf' (got 'svd')",
        ),
        (
            both(setting("models", ["nmf", "ncf"]), setting("beta_sweep.models", ["nmf", "mf"])),
            "params.yaml: beta_sweep.models: 'mf' is not pretrained (top-level models: nmf, ncf); add "
            "it there or remove it here",
        ),
        (
            both(
                setting("models", ["nmf"]),
                setting("sensitivity.model", "ncf"),
                *(setting(f"{name}.models", ["nmf"]) for name in EXPERIMENTS),
            ),
            "params.yaml: sensitivity.model: 'ncf' is not pretrained (top-level models: nmf)",
        ),
        (
            both(setting("seeds", [1, 2, 3]), setting("main_table.seeds", [1, 7])),
            "params.yaml: main_table.seeds: 7 is not pretrained (top-level seeds: 1, 2, 3); add it "
            "there or remove it here",
        ),
        (
            both(setting("evaluate.ks", [5, 10]), setting("diversity.k", 15)),
            "params.yaml: diversity.k: DRO@15 is never measured, as evaluate.ks [5, 10] lacks 15; add "
            "it there",
        ),
        (
            both(setting("evaluate.ks", [5, 10]), setting("gain_beyond_k.ks", [5, 20])),
            "params.yaml: gain_beyond_k.ks: DRO@20 is never measured, as evaluate.ks [5, 10] lacks 20",
        ),
        # β: the sweep's control β = 1 and a β below it; one β for the gain tables
        (
            setting("beta_sweep.betas", [0, 0.5]),
            "params.yaml: beta_sweep.betas: lacks the control β = 1 (relevance only) that every β < 1 "
            "is measured against; add 1",
        ),
        (
            setting("beta_sweep.betas", [1]),
            "params.yaml: beta_sweep.betas: has no β below the control 1; add one (e.g. 0.5)",
        ),
        (
            setting("gain_beyond_k.betas", [0.2, 0.5]),
            "params.yaml: gain_beyond_k.betas: lists 2 βs; the gain tables (IV and VI) show one: keep "
            "one",
        ),
        (
            both(setting("evaluate.ks", [5, 10, 20, 30, 40]), setting("rerank.pool", 50)),
            "params.yaml: rerank.pool: 50 candidates are fewer than the 80 items a re-ranked list "
            "holds (2 · max(evaluate.ks)); raise it to at least that",
        ),
    ],
)
def test_each_class_of_params_mistake_is_one_line_naming_the_key_and_fix(change, message):
    with pytest.raises(DivlibError) as caught:
        parse_params(edited(change), source="params.yaml")
    assert type(caught.value) is DivlibError
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def key_paths(tree: dict, prefix: tuple = ()):
    for key, value in tree.items():
        yield (*prefix, key)
        if isinstance(value, dict):
            yield from key_paths(value, (*prefix, key))


@pytest.mark.parametrize("path", [".".join(p) for p in key_paths(PARAMS)])
def test_any_wrong_value_at_any_key_is_a_divlib_error_naming_the_key(path):
    """Never a traceback: each key set to values of every wrong kind is accepted (a number that is
    merely unusual) or refused in one line that names its key path; text and nested lists always are."""
    for bad in (None, "text", -1, 0, 1.5, True, [], [[1]], {"x": 1}, float("nan"), float("inf")):
        try:
            parse_params(edited(setting(path, bad)))
        except DivlibError as error:
            assert f"params.yaml: {path}" in str(error) and "\n" not in str(error), (bad, error)
        else:
            assert bad not in ("text", [[1]]), f"{path} = {bad!r} was accepted"


def test_yaml_1_1_exponent_strings_are_numbers():
    text = yaml.safe_dump(PARAMS).replace("lr: 0.01", "lr: 1e-3").replace("eps: auto", "eps: 5e-4")
    loaded = yaml.safe_load(text)
    assert loaded["finetune"]["lr"] == "1e-3"  # what YAML 1.1 gives: a string
    params = parse_params(loaded)
    assert params.finetune.lr == 0.001 and params.pretrain.lr == 0.001
    assert params.diversity.eps == 0.0005
    assert diversity_options(params.diversity, 100).eps == 0.0005


def test_eps_auto_resolves_to_one_over_the_catalogue():
    options = diversity_options(parse_params(PARAMS).diversity, 1682)
    assert options.eps == 1 / 1682 and options.k == 10


def test_many_problems_are_listed_on_one_line():
    def break_four(p):
        p["beta_sweep"].update(betas=[], seeds=[], epochs=0)
        p["pretrain"].update(lr=0)

    message = str(pytest.raises(DivlibError, parse_params, edited(break_four)).value)
    assert message.count(": ") >= 4 and "and 1 more" in message and "\n" not in message


def option_keys():
    """(params key, option dataclass, field) of every key that sets an option field."""
    sections = (
        ("pretrain", PretrainOptions, {"max_epochs": "epochs"}),
        ("diversity", DiversityOptions, {}),
        ("finetune", FinetuneOptions, {}),
    )
    for section, options, renamed in sections:
        for key in Params.model_fields[section].annotation.model_fields:
            if key != "dim":  # the model's embedding size, not a training option
                yield f"{section}.{key}", options, renamed.get(key, key)


RUN = {"method": "ddt", "beta": 0.5, "epochs": 1, "lr": 0.1, "batch_size": 1}
BASE = {
    PretrainOptions: {"epochs": 1, "lr": 0.1, "batch_size": 1},
    DiversityOptions: {},
    FinetuneOptions: RUN,
}


@pytest.mark.parametrize(("key", "options", "field"), list(option_keys()))
def test_a_params_key_takes_exactly_what_its_option_field_takes(key, options, field):
    """One schema: the sections are built from the library's option dataclasses, so a section
    refuses a value exactly when the option would (``eps: auto``, resolved per catalogue, aside)."""
    section, name = key.split(".")
    model = Params.model_fields[section].annotation
    assert field in {f.name for f in dataclasses.fields(options)}
    for value in (-1, 0, 0.5, 1, 2, 11, 1.5, None, True, "auto", "best", float("inf")):
        try:
            model.model_validate(PARAMS[section] | {name: value})
        except pydantic.ValidationError:
            in_params = False
        else:
            in_params = True
        try:
            options(**BASE[options] | {field: value})
        except DivlibError:
            in_library = key == "diversity.eps" and value == "auto"
        else:
            in_library = True
        assert in_params == in_library, (key, value)
