"""Run specifications: names, seeds and settings of the grids, from the repository's params.yaml."""

import copy
from pathlib import Path

import pytest
import yaml

from divlib.errors import DivlibError
from divlib.experiment import (
    derive_seed,
    diversity_options,
    finetune_run,
    finetune_runs,
    run_name,
    sensitivity_runs,
)
from divlib.params import parse_params

PARAMS = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())


def params_with(**finetune):
    raw = copy.deepcopy(PARAMS)
    raw["finetune"] |= finetune
    return parse_params(raw)


def test_the_grid_names_every_run_once_in_method_beta_seed_order():
    params = params_with(methods=["ddt", "ddt-adaptive", "mdr"], betas=[0.2, 0.7], seeds=[1, 2])
    specs = finetune_runs(params.finetune, params.diversity, dataset="ml-100k", model="nmf")
    assert [spec.name for spec in specs] == [
        "ddt-beta0.2-seed1", "ddt-beta0.2-seed2", "ddt-beta0.7-seed1", "ddt-beta0.7-seed2",
        "ddt-adaptive-seed1", "ddt-adaptive-seed2",  # β is its own: one run per seed
        "mdr-beta0.2-seed1", "mdr-beta0.2-seed2", "mdr-beta0.7-seed1", "mdr-beta0.7-seed2",
        "ddt-scratch-beta0.5-seed1", "ddt-scratch-beta0.5-seed2",
    ]  # fmt: skip
    assert [spec.identity["method"] for spec in specs[-2:]] == ["ddt-scratch"] * 2


def test_each_run_gets_its_own_settings_and_identity():
    params = params_with(betas=[0.2, 0.7], seeds=[1, 2], epochs=3, batch_size=4096)
    specs = {s.name: s for s in finetune_runs(params.finetune, params.diversity, dataset="d",
                                                 model="nmf")}  # fmt: skip
    mdr = specs["mdr-beta0.7-seed2"]
    assert (mdr.options.method, mdr.options.beta, mdr.options.epochs) == ("mdr", 0.7, 3)
    assert mdr.identity == {"method": "mdr", "param": 0.7, "seed": 2, "regime": "finetune"}
    assert not mdr.from_scratch and mdr.options.batch_size == 4096
    adaptive = specs["ddt-adaptive-seed1"]
    assert adaptive.identity["param"] is None
    scratch = specs["ddt-scratch-beta0.5-seed2"]  # finetune.scratch overrides epochs, batch, users
    assert scratch.from_scratch and scratch.identity["regime"] == "scratch"
    assert (scratch.options.epochs, scratch.options.batch_size, scratch.options.users_per_step) == (
        10, 1024, 128,
    )  # fmt: skip
    assert scratch.options.lr == params.finetune.lr


def test_seeds_depend_on_the_run_not_on_the_devices_or_the_grid():
    spread = [
        params_with(devices="auto"), params_with(devices=["cpu", "cpu"], cpu_workers=1),
        params_with(betas=[0.5], methods=["ddt"]),  # a smaller grid holding the same run
    ]  # fmt: skip
    seeds = [
        {
            s.name: s.options.seed
            for s in finetune_runs(p.finetune, p.diversity, dataset="d", model="nmf")
        }  # fmt: skip
        for p in spread
    ]
    assert seeds[0] == seeds[1]
    assert seeds[2]["ddt-beta0.5-seed1"] == seeds[0]["ddt-beta0.5-seed1"]
    assert len(set(seeds[0].values())) == len(seeds[0])  # every run draws its own stream
    other_model = finetune_runs(spread[0].finetune, spread[0].diversity, dataset="d", model="ncf")
    assert other_model[0].options.seed != seeds[0][other_model[0].name]


def test_derive_seed_is_a_stable_digest():
    # Pinned: every stored run's seed comes from this rule; a change reseeds all of them.
    assert derive_seed(1, "ml-100k", "nmf") == 3695133720
    assert derive_seed(2, "ml-100k", "nmf") != derive_seed(1, "ml-100k", "nmf")


def test_one_run_outside_the_grid_is_the_grids_run():
    params = params_with(betas=[0.2, 0.5], seeds=[1, 3])
    grid = {s.name: s for s in finetune_runs(params.finetune, params.diversity, dataset="d",
                                                model="mf")}  # fmt: skip
    alone = finetune_run(params.finetune, params.diversity, dataset="d", model="mf",
                         method="ddt", beta=0.5, seed=3)  # fmt: skip
    assert alone == grid["ddt-beta0.5-seed3"] and run_name("ddt", 0.5, 3) == alone.name
    with pytest.raises(DivlibError, match="method must be one of"):
        finetune_run(params.finetune, params.diversity, dataset="d", model="mf", method="sgd",
                     beta=0.5, seed=1)  # fmt: skip


def test_the_sensitivity_grid_sets_eps_and_k_per_run():
    params = parse_params(PARAMS)
    specs = sensitivity_runs(params.sensitivity, params.finetune, params.diversity, dataset="d")
    assert [s.name for s in specs][:4] == ["eps0.0001-k5", "eps0.0001-k10", "eps0.0001-k20",
                                           "epsauto-k5"]  # fmt: skip
    auto = specs[3]
    assert auto.identity == {"eps": "auto", "k": 5} and auto.options.epochs == 2
    resolved = diversity_options(auto.diversity, 400)
    assert (resolved.k, resolved.eps, resolved.tau) == (5, 1 / 400, params.diversity.tau)
    assert diversity_options(specs[0].diversity, 400).eps == 0.0001


def test_numbers_keep_how_they_are_written_in_names_and_identity():
    params = params_with(betas=[0, 1, 0.5], methods=["ddt"], seeds=[1])
    specs = finetune_runs(params.finetune, params.diversity, dataset="d", model="nmf")
    assert [s.name for s in specs][:3] == [
        "ddt-beta0-seed1",
        "ddt-beta1-seed1",
        "ddt-beta0.5-seed1",
    ]
    assert specs[1].identity["param"] == 1 and specs[1].options.beta == 1
