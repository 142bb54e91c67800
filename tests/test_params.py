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
    assert params.finetune.betas == [0.2, 0.5, 0.8] and params.diversity.eps == "auto"
    assert params.finetune.scratch.overrides() == {"epochs": 10, "batch_size": 1024,
                                                   "users_per_step": 128}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p["finetune"].update(beats=[0.5]),
         "params.yaml: finetune.beats: unknown key; the keys here are epochs, lr,"),
        (lambda p: p["finetune"]["scratch"].update(epoch=3),
         "finetune.scratch.epoch: unknown key; the keys here are methods, beta, epochs"),
        (lambda p: p.update(finetuen={}), "finetuen: unknown key; the keys here are datasets"),
        (lambda p: p["finetune"].pop("epochs"), "finetune.epochs: missing; add it"),
        (lambda p: p.pop("rerank"), "params.yaml: rerank: missing"),
        (lambda p: p["finetune"].update(betas=[]),
         "finetune.betas: List should have at least 1 item after validation, not 0 (got [])"),
        (lambda p: p["evaluate"].update(ks=[]), "evaluate.ks: List should have at least 1 item"),
        (lambda p: p["finetune"].update(betas=[0.2, 1.5]),
         "finetune.betas.1: Input should be less than or equal to 1 (got 1.5)"),
        (lambda p: p["finetune"].update(methods=["ddt", "dtt"]),
         "finetune.methods.1: Input should be 'ddt', 'ddt-adaptive' or 'mdr' (got 'dtt')"),
        (lambda p: p["diversity"].update(eps=-1),
         "diversity.eps: Input should be greater than 0 (got -1) or Input should be 'auto'"),
        (lambda p: p["diversity"].update(k=1), "diversity.k: Input should be greater than or equal to 2"),
        (lambda p: p.update(finetune=[1]), "finetune: must be a mapping of keys; got [1]"),
        (lambda p: p["finetune"]["scratch"].update(epochs=None),
         "finetune.scratch.epochs: Input should be a valid integer (got None)"),
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
        p["finetune"].update(betas=[], seeds=[], epochs=0)
        p["pretrain"].update(lr=0)

    message = str(pytest.raises(DivlibError, parse_params, edited(break_four)).value)
    assert message.count(": ") >= 4 and "and 1 more" in message and "\n" not in message
