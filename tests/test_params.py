"""params.yaml at the boundary: every section strict, every failure one line naming the key path."""

import copy
from pathlib import Path

import pytest
import yaml

from divlib.errors import DivlibError
from divlib.experiment import diversity_options
from divlib.params import parse_params

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


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p["beta_sweep"].update(beats=[0.5]),
         "params.yaml: beta_sweep.beats: unknown key; the keys here are models, epochs, seeds,"),
        (lambda p: p["finetune"].update(epochs=3),
         "finetune.epochs: unknown key; the keys here are lr, batch_size,"),
        (lambda p: p.update(finetuen={}), "finetuen: unknown key; the keys here are datasets"),
        (lambda p: p["main_table"].pop("epochs"), "main_table.epochs: missing; add it"),
        (lambda p: p.pop("rerank"), "params.yaml: rerank: missing"),
        (lambda p: p["beta_sweep"].update(betas=[]),
         "beta_sweep.betas: List should have at least 1 item after validation, not 0 (got [])"),
        (lambda p: p["evaluate"].update(ks=[]), "evaluate.ks: List should have at least 1 item"),
        (lambda p: p["beta_sweep"].update(betas=[0.2, 1.5]),
         "beta_sweep.betas.1: Input should be less than or equal to 1 (got 1.5)"),
        (lambda p: p["beta_sweep"].update(methods=["ddt", "dtt"]),
         "beta_sweep.methods.1: Input should be 'ddt', 'ddt-adaptive' or 'mdr' (got 'dtt')"),
        (lambda p: p["adaptive_beta"].update(rules=["min-norm", "mean"]),
         "adaptive_beta.rules.1: Input should be 'min-norm', 'min-norm-adam' or 'normalized'"),
        (lambda p: p["training_curves"].update(seeds="some"),
         "training_curves.seeds: Input should be a valid list (got 'some') or Input should be 'all'"),
        (lambda p: p["finetune"].update(select="first"),
         "finetune.select: Input should be 'last', 'best' or 'most-diverse' (got 'first')"),
        (lambda p: p["diversity"].update(eps=-1),
         "diversity.eps: Input should be greater than 0 (got -1) or Input should be 'auto'"),
        (lambda p: p["diversity"].update(k=1), "diversity.k: Input should be greater than or equal to 2"),
        (lambda p: p.update(finetune=[1]), "finetune: must be a mapping of keys; got [1]"),
        (lambda p: p["gain_beyond_k"].update(epochs=None),
         "gain_beyond_k.epochs: Input should be a valid integer (got None)"),
        (lambda p: p["pretrain"].update(patience=0),
         "pretrain.patience: Input should be greater than or equal to 1 (got 0)"),
        (lambda p: p["diversity"].update(top_m=10), "diversity: top_m = 10 must exceed k = 10"),
    ],
)  # fmt: skip
def test_a_bad_section_is_one_line_naming_the_key(change, message):
    with pytest.raises(DivlibError) as caught:
        parse_params(edited(change))
    assert message in str(caught.value) and "\n" not in str(caught.value)


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
