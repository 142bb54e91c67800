"""Bad input at the study's boundary (issue 23): settings the machine or the catalogue cannot serve,
damaged files, a full disk, an unknown dataset. Each ends in one line naming the key or file and the
fix, exit status 1 (2 for a command line argparse refuses), with nothing half-written; each runs the
study function a stage calls, through the stage's own wrapper (:func:`divlib.study.cli.main_guard`)."""

import copy
import csv
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import torch
import yaml
from projects import synthetic_project

from divlib.errors import DivlibError
from divlib.study.cli import main_guard
from divlib.study.evaluation import load_runs
from divlib.study.experiment import (
    experiment_runs,
    grid_backend,
    grid_devices,
    run_experiment,
    save_runs,
    train_run,
)
from divlib.study.layout import Layout, read_runs, run_file
from divlib.study.params import parse_params
from divlib.study.readers import read_per_user, read_published, read_summaries
from divlib.train.ray_grid import run_grid_on_ray

ROOT = Path(__file__).resolve().parents[1]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def params(**sections) -> object:
    """The repository's params.yaml with the keys of ``sections`` changed, for the synthetic
    project (model nmf, seed 1, one epoch)."""
    data = copy.deepcopy(PARAMS)
    data["datasets"], data["seeds"] = ["synthetic"], [1]
    for section in data.values():
        if isinstance(section, dict) and "epochs" in section:
            section |= {"epochs": 1} | ({"seeds": "all"} if "seeds" in section else {})
    data["robustness"]["seeds"] = "all"
    for name, change in sections.items():
        data[name] |= change
    return parse_params(data)


def stage_error(call, capsys) -> str:
    """What a stage prints when its one call is ``call``: the one error line (exit 1)."""
    handler = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit) as exit_:
            main_guard(call)
    finally:
        signal.signal(signal.SIGTERM, handler)
    assert exit_.value.code == 1
    (line,) = capsys.readouterr().err.splitlines()
    return line.removeprefix("error: ")


@pytest.fixture
def project(tmp_path, monkeypatch) -> Layout:
    """The tiny synthetic project (60 users, 50 items), also the working directory, as a stage's."""
    synthetic_project(tmp_path, users=60, items=50, ratings=1500, categories=6)
    monkeypatch.chdir(tmp_path)
    return Layout()


# --- where runs go: grid ------------------------------------------------------------------------


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_ray_address_fails_at_once_naming_grid_address(capsys):
    # ray.init retried such an address without end (a warning every 40 s)
    port = closed_port()
    grid = params(grid={"backend": "ray", "address": f"127.0.0.1:{port}"}).grid
    line = stage_error(lambda: grid_backend(grid), capsys)
    assert line.startswith(f"grid.address: no Ray cluster answers at 127.0.0.1:{port} (")
    assert line.endswith(
        f"start its head there (ray start --head --port {port}) or give the address of a running one"
    )


def test_the_ray_backend_checks_its_address_before_ray_init(monkeypatch):
    ray = pytest.importorskip("ray")
    monkeypatch.setattr(ray, "init", lambda **_: pytest.fail("ray.init was called"))
    address = f"127.0.0.1:{closed_port()}"
    with pytest.raises(DivlibError, match=f"^no Ray cluster answers at {address} "):
        run_grid_on_ray(len, [[1]], address=address)


@pytest.fixture
def gpus(monkeypatch):
    """Set how many CUDA devices torch sees, so that a test runs alike with or without a GPU."""

    def see(count: int) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)

    return see


@pytest.mark.parametrize(
    ("count", "device", "here"),
    [(0, "cuda:0", "no CUDA (torch sees no GPU)"), (1, "cuda:1", "1 CUDA device(s)")],
)
def test_a_cuda_device_the_machine_lacks_names_grid_devices(capsys, gpus, count, device, here):
    gpus(count)
    grid = params(grid={"devices": ["cpu", device]}).grid
    assert stage_error(lambda: grid_devices(grid), capsys) == (
        f"grid.devices: {device} is not on this machine, which has {here}; list devices it has "
        "(e.g. [cpu]) or write auto"
    )


def test_more_cpu_workers_than_cores_are_lowered_to_the_cores_with_one_warning(caplog, gpus):
    gpus(0)  # devices: auto places runs on the CPU workers only where torch sees no GPU
    cores = len(os.sched_getaffinity(0))
    grid = params(grid={"cpu_workers": cores + 62}).grid
    with caplog.at_level(logging.WARNING):
        devices = grid_devices(grid)
    assert devices == [torch.device("cpu")] * cores
    assert caplog.messages == [
        f"grid.cpu_workers: {cores + 62} is more than the {cores} CPU cores here; running {cores} "
        "workers"
    ]


# --- settings the catalogue cannot serve -----------------------------------------------------------


def test_a_k_too_large_for_the_catalogue_names_its_key_before_any_run(project, capsys):
    # 50 items, a user with 29 of them in training: DRO@40 cannot rank 40 unrated items
    chosen = params(gain_beyond_k={"models": ["nmf"], "ks": [5, 40]})
    line = stage_error(
        lambda: run_experiment(chosen, "gain_beyond_k", dataset="synthetic", model="nmf"), capsys
    )
    assert line.startswith("gain_beyond_k.ks: 40 items per user do not fit the catalogue: user ")
    assert line.endswith("items not rated in training; lower it")
    assert not Path("models/synthetic/nmf/gain_beyond_k").exists()


def test_monitor_users_above_the_users_are_all_users_and_the_record_says_so(project):
    (spec,) = experiment_runs(params(), "main_table", dataset="synthetic", model="nmf")[:1]
    assert spec.options.monitor_users == 256  # params.yaml's, above the 60 users
    outcome = train_run(spec, torch.device("cpu"))
    save_runs(Path("runs"), [spec], [outcome])
    record = json.loads(run_file(Path("runs") / spec.name, "record").read_text())
    assert record["options"]["monitor_users"] == 60


def test_a_full_disk_while_writing_runs_is_one_line_and_leaves_nothing(
    project, capsys, monkeypatch
):
    (spec,) = experiment_runs(params(), "main_table", dataset="synthetic", model="nmf")[:1]
    outcome = train_run(spec, torch.device("cpu"))

    def full(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", full)
    folder = Path("models/synthetic/nmf/main_table")
    line = stage_error(lambda: save_runs(folder, [spec], [outcome]), capsys)
    assert line == (
        f"{folder}: not written, the disk is full ([Errno 28] No space left on device); free space "
        "on it (or raise the quota) and run again"
    )
    assert sorted(p.name for p in folder.parent.iterdir()) == ["base"]  # no temporary either


# --- damaged files -------------------------------------------------------------------------------


def damaged_run(project: Layout, record: str | None = None) -> Path:
    """A main_table run folder whose run.json is ``record`` (default: a complete identity) and whose
    selected.pt is half of a real checkpoint."""
    run = project.runs("synthetic", "nmf", "main_table") / "ddt-beta0.2-seed1"
    run.mkdir(parents=True)
    identity = {"experiment": "main_table", "method": "ddt", "param": 0.2, "seed": 1}
    identity |= {"regime": "fine-tuned", "train_k": 10}
    run_file(run, "record").write_text(record if record is not None else json.dumps(identity))
    checkpoint = project.base("synthetic", "nmf", 1).read_bytes()
    run_file(run, "selected").write_bytes(checkpoint[: len(checkpoint) // 2])
    return run


def test_a_damaged_train_parquet_names_the_file_and_the_prepare_stage(project, capsys):
    path = project.prepared("synthetic") / "train.parquet"
    path.write_bytes(path.read_bytes()[:100])
    line = stage_error(
        lambda: run_experiment(params(), "main_table", dataset="synthetic", model="nmf"), capsys
    )
    assert line.startswith(f"{path}: not a Parquet table (")
    assert line.endswith(
        "; it is damaged: run dvc repro, which reruns the prepare stage that writes it"
    )


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ('{"experiment": "main_table", "method": "ddt", "par', "not JSON (Unterminated string"),
        (
            '{"experiment": "main_table", "method": "ddt", "param": 0.2, "regime": "fine-tuned", '
            '"train_k": 10}',
            "lacks the run's seed",
        ),
    ],
)
def test_a_truncated_run_json_or_one_without_seed_names_the_file_and_the_finetune_stage(
    project, capsys, record, problem
):
    run = damaged_run(project, record)
    line = stage_error(lambda: read_runs(run.parent), capsys)
    assert line.startswith(f"{run_file(run, 'record')}: {problem}")
    assert line.endswith("run dvc repro, which reruns the finetune main_table stage that writes it")


def test_a_damaged_selected_pt_names_the_finetune_stage_without_torchs_advice(project, capsys):
    run = damaged_run(project)
    line = stage_error(lambda: list(load_runs(run.parent)), capsys)
    assert line.startswith(f"{run_file(run, 'selected')}: not a divlib model checkpoint (")
    assert line.endswith("run dvc repro, which reruns the finetune main_table stage that writes it")
    assert "pretrain" not in line and "weights_only" not in line


@pytest.mark.parametrize("name", ["summary", "per_user"])
def test_a_damaged_evaluation_names_the_file_and_the_evaluate_stage(project, capsys, name):
    path = getattr(project, name)("synthetic", "nmf", "main_table")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PAR1 cut short")
    read = read_summaries if name == "summary" else read_per_user
    line = stage_error(lambda: read(project, "synthetic", ["nmf"], "main_table"), capsys)
    assert line.startswith(f"{path}: not a Parquet table (")
    assert line.endswith("run dvc repro, which reruns the evaluate main_table stage that writes it")


@pytest.mark.parametrize(
    ("column", "value", "line"),
    [("mean", "zero.77", 2), ("std", "n/a", 3), ("param", "n/a", 2), ("k", "10.5", 3)],
)
def test_a_typo_in_the_papers_numbers_names_the_file_line_and_column(tmp_path, column, value, line):
    path = tmp_path / "published.csv"
    rows = pl.read_csv(ROOT / "reports/paper/published.csv", infer_schema=False).head(2)
    rows = rows.with_columns(
        pl.when(pl.int_range(pl.len()) == line - 2)
        .then(pl.lit(value))
        .otherwise(pl.col(column))
        .alias(column)
    )
    rows.write_csv(path)
    expected = "a number as the paper prints it" + (" or empty" if column != "mean" else "")
    shown = repr(value)
    message = f"{path}: line {line}, column {column}: {shown} is not {expected}; correct it"
    with pytest.raises(DivlibError, match="^" + re.escape(message)):
        read_published(path)


def test_the_published_numbers_read_as_before():
    path = ROOT / "reports/paper/published.csv"
    published = read_published(path)
    assert published.schema["param"] == pl.Float64 and published.schema["k"] == pl.Int64
    assert published.schema["mean"] == pl.String and published["mean"].null_count() == 0
    with path.open(newline="") as file:  # the reference: the standard library's csv reader
        rows = list(csv.DictReader(file))
    assert published["mean"].to_list() == [row["mean"] for row in rows]  # as printed: "0.70"


# --- the command line ----------------------------------------------------------------------------


def test_an_unknown_dataset_on_a_stage_command_line_lists_the_known_ones(tmp_path):
    done = subprocess.run(
        [sys.executable, ROOT / "stages" / "prepare.py", "nosuch"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == (
        "prepare.py: error: argument DATASET: invalid choice: 'nosuch' (choose from 'ml-100k', "
        "'ml-1m', 'coat', 'kuairec', 'netflix', 'yahoo-r2', 'synthetic')"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("path", "stage"),  # each out of dvc.yaml → its stage, as a damaged file's message names it
    [
        ("data/raw/ml-100k/u.data", "download"),
        ("data/prepared/ml-100k/train.parquet", "prepare"),
        ("data/similarity/ml-100k/distance.pt", "similarity"),
        ("models/ml-100k/nmf/base/seed1.pt", "pretrain"),
        ("models/ml-100k/dgrec/seed1.pt", "dgrec"),
        ("models/ml-100k/ncf/main_table/ddt-b0.2-s1/selected.pt", "finetune main_table"),
        ("data/rerank/ml-100k/nmf/lists.parquet", "rerank"),
        ("data/evaluation/ml-100k/nmf/baselines/per_run.parquet", "evaluate baselines"),
        ("data/sensitivity/ml-100k/runs.parquet", "sensitivity"),
        ("data/robustness/ml-100k/nmf/long/summary.parquet", "robustness"),
        ("reports/ml-100k/report.html", None),
    ],
)
def test_every_output_names_the_stage_that_writes_it(tmp_path, path, stage):
    assert Layout(tmp_path).writer(tmp_path / path) == stage


def test_a_k_whose_evaluated_lists_do_not_fit_names_evaluate_ks_before_any_run(project, capsys):
    # DRO@20 fits each user's items not rated in training, but its evaluation ranks 2·20 = 40 items
    # a user has not rated in training or validation, which some users of the 50 items lack
    chosen = params(gain_beyond_k={"models": ["nmf"], "ks": [5, 20]}, evaluate={"ks": [5, 10, 20]})
    line = stage_error(
        lambda: run_experiment(chosen, "gain_beyond_k", dataset="synthetic", model="nmf"), capsys
    )
    assert line.startswith("evaluate.ks (ranks 1..2k of its largest k): 40 items per user do not ")
    assert line.endswith("items not rated in training or validation; lower it")
    assert not Path("models/synthetic/nmf/gain_beyond_k").exists()
