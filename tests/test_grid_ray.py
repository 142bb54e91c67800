"""The Ray backend of the grid: the same run outputs as the local grid, the first error as its own type
with the other tasks cancelled, and a one-line error without Ray. One local Ray instance (2 CPUs)."""

import copy
import dataclasses
import sys
from functools import partial
from pathlib import Path

import pytest
import torch
import yaml
from projects import synthetic_project

from divlib.errors import DivlibError, TrainingDiverged
from divlib.study.experiment import experiment_runs, save_runs, train_run
from divlib.study.layout import Layout
from divlib.study.params import parse_params
from divlib.train.grid import run_grid
from divlib.train.ray_grid import ray_address, run_grid_on_ray

ray = pytest.importorskip("ray")

PARAMS = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())


@pytest.fixture(scope="module")
def cluster():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=True)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def layout(tmp_path_factory) -> Layout:
    """Dataset "synthetic" prepared, its distance, and nmf pretrained (initialised) with seed 1."""
    return synthetic_project(
        tmp_path_factory.mktemp("project"), users=60, items=90, ratings=1500, categories=6
    )


def specs(**options) -> list:
    """Three runs of the beta sweep (DDT at β = 0.3 and 1, MDR at 0.3) on nmf seed 1, two epochs,
    with ``options``."""
    params = copy.deepcopy(PARAMS)
    params["finetune"] |= {"batch_size": 256}
    params["beta_sweep"] |= {
        "methods": ["ddt", "mdr"],
        "betas": [0.3, 1],
        "seeds": [1],
        "epochs": 2,
    }
    runs = experiment_runs(parse_params(params), "beta_sweep", dataset="synthetic", model="nmf")
    return [
        dataclasses.replace(spec, options=dataclasses.replace(spec.options, **options))
        for spec in runs[:3]
    ]


def run_files(folder: Path) -> list[Path]:
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())


def test_runs_on_ray_equal_the_local_grid_file_for_file(cluster, layout, tmp_path):
    jobs, run = specs(), partial(train_run, layout=layout)
    save_runs(tmp_path / "local", jobs, run_grid(run, jobs, [torch.device("cpu")]))
    save_runs(tmp_path / "ray", jobs, run_grid_on_ray(run, jobs))
    assert ray.is_initialized()  # the connection the test opened is left open
    files = run_files(tmp_path / "local")
    assert len(files) == 3 * 5 and files == run_files(tmp_path / "ray")
    for file in files:  # byte for byte: no file holds a wall time
        assert (tmp_path / "local" / file).read_bytes() == (tmp_path / "ray" / file).read_bytes()


def test_the_first_error_is_raised_as_itself_and_cancels_the_other_tasks(
    cluster, layout, monkeypatch
):
    cancelled, cancel = [], ray.cancel
    monkeypatch.setattr(
        ray, "cancel", lambda ref, **how: cancel(ref, **how) or cancelled.append(ref)
    )
    diverging, endless = specs(lr=1e12)[:1], specs(epochs=100_000)[1:]  # endless: minutes each
    with pytest.raises(TrainingDiverged) as caught:
        run_grid_on_ray(partial(train_run, layout=layout), diverging + endless)
    assert type(caught.value) is TrainingDiverged and caught.value.step >= 1
    assert len(cancelled) == 2
    _, unfinished = ray.wait(cancelled, num_returns=2, timeout=30)
    assert not unfinished  # ended at once, by the cancellation
    for ref in cancelled:
        with pytest.raises((ray.exceptions.TaskCancelledError, ray.exceptions.WorkerCrashedError)):
            ray.get(ref)


def test_without_ray_the_backend_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails
    with pytest.raises(DivlibError) as caught:
        run_grid_on_ray(train_run, [])
    assert str(caught.value) == "the ray backend needs Ray: pip install 'divlib[ray]'"


def test_the_address_is_the_argument_else_ray_address(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    assert ray_address("head:6379") == "head:6379" and ray_address(None) == "10.0.0.1:6379"
    monkeypatch.delenv("RAY_ADDRESS")
    assert ray_address(None) is None  # a new local instance
