"""Interrupted and failing work leaves nothing behind: a kill between atomic_path's two renames, SIGTERM
in a stage, an error or a killed worker in a grid, a diverging run in the finetune and pretrain stages."""

import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
import yaml

from divlib.errors import DivlibError, TrainingDiverged
from divlib.io import atomic_path
from divlib.train.grid import run_grid

ROOT = Path(__file__).resolve().parents[1]
CPU2 = [torch.device("cpu")] * 2


def hidden(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*"))


def python(script: str, cwd: Path) -> subprocess.Popen:
    """``script`` in a new Python process, run in ``cwd``, with this checkout's divlib importable."""
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_kill_between_the_two_renames_is_cleaned_up_by_the_next_write(tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "old.txt").write_text("old")
    killed = python(
        """
        import os, signal
        from divlib.io import atomic_path

        rename = os.replace
        def replace_then_die(source, target):  # the old output moved aside, the new one not yet in
            rename(source, target)
            os.kill(os.getpid(), signal.SIGKILL)

        os.replace = replace_then_die
        with atomic_path("runs") as temporary:
            temporary.mkdir()
            (temporary / "new.txt").write_text("new")
        """,
        tmp_path,
    )
    killed.wait(timeout=60)
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "runs").exists() and len(hidden(tmp_path)) > 0  # what the kill left
    with atomic_path(tmp_path / "runs") as temporary:
        temporary.mkdir()
        (temporary / "new.txt").write_text("new")
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["new.txt"]
    assert hidden(tmp_path) == []


def test_sigterm_in_a_stage_removes_what_was_being_written_and_prints_one_line(tmp_path):
    (tmp_path / "out.txt").write_text("old")
    stage = python(
        """
        import time
        from divlib.study.cli import main_guard
        from divlib.io import atomic_path

        def main():
            with atomic_path("out.txt") as temporary:
                temporary.write_text("half")
                print("writing", flush=True)
                time.sleep(60)

        main_guard(main)
        """,
        tmp_path,
    )
    assert stage.stdout.readline() == "writing\n"
    stage.send_signal(signal.SIGTERM)
    _, stderr = stage.communicate(timeout=30)
    assert stage.returncode == 128 + signal.SIGTERM
    assert stderr == "interrupted by SIGTERM: outputs not yet complete were removed\n"
    assert (tmp_path / "out.txt").read_text() == "old" and hidden(tmp_path) == []


def job(task: tuple, device: torch.device) -> str:
    """A grid job: logs, then returns its name, sleeps, raises TrainingDiverged or kills its worker."""
    name, seconds = task
    logging.getLogger("tests.jobs").info("job %s on %s", name, device)
    if name == "diverge":
        raise TrainingDiverged("planted", step=3, last_good={"w": torch.ones(3)})
    if name == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(seconds)
    return name


def test_a_grid_logs_each_job_as_it_ends_and_returns_the_results_in_job_order(caplog):
    caplog.set_level(logging.INFO)
    tasks = [("a", 1.0), ("b", 0.0), ("c", 0.0)]
    results = run_grid(job, tasks, CPU2, describe=lambda task, result: f"{result} done")
    assert results == ["a", "b", "c"]
    lines = caplog.messages
    assert {"job a on cpu", "job b on cpu", "job c on cpu"} <= set(lines)  # from the workers
    progress = [line for line in lines if line.startswith("[")]
    assert [line.split(" done")[0] for line in progress] == ["[1/3] b", "[2/3] c", "[3/3] a"]
    assert "s (ETA " in progress[0] and "ETA" not in progress[-1]


def test_an_error_in_a_worker_stops_the_grid_at_once():
    start = time.perf_counter()
    with pytest.raises(TrainingDiverged, match="planted") as caught:
        run_grid(job, [("slow", 60.0), ("diverge", 0.0), ("slow", 60.0)], CPU2)
    assert time.perf_counter() - start < 30
    assert torch.equal(caught.value.last_good["w"], torch.ones(3))  # read after the worker sent it
    assert multiprocessing.active_children() == []


def test_a_worker_that_dies_fails_the_grid_with_one_line():
    with pytest.raises(DivlibError, match=r"the worker on cpu stopped \(exit code -9\)"):
        run_grid(job, [("die", 0.0), ("b", 0.0)], CPU2)
    assert multiprocessing.active_children() == []


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """Tiny synthetic data, prepared, its distance and two pretrained models, by the stages."""
    folder = tmp_path_factory.mktemp("tiny")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["datasets"], params["models"], params["seeds"] = ["synthetic"], ["nmf"], [1, 2]
    params["data"]["options"]["synthetic"] = {
        "users": 60,
        "items": 80,
        "ratings": 1500,
        "categories": 6,
        "seed": 2,
    }
    params["pretrain"] |= {"max_epochs": 2, "patience": 1}
    params["finetune"] |= {"batch_size": 512}
    for section in params.values():  # every experiment on the one model
        if isinstance(section, dict) and "models" in section:
            section["models"] = ["nmf"]
    params["main_table"] |= {"epochs": 2, "seeds": [1]}
    params["evaluate"]["ks"] = params["gain_beyond_k"]["ks"] = [5, 10, 20]  # 2·20 of 80 items
    params["robustness"]["ks"] = [10, 20]
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    for stage in ("download", "prepare", "similarity"):
        assert stage_run(folder, stage, "synthetic").returncode == 0
    assert stage_run(folder, "pretrain", "synthetic", "nmf", devices=["cpu"]).returncode == 0
    return folder


def stage_run(project: Path, stage: str, *args: str, **finetune) -> subprocess.CompletedProcess:
    """``python stages/STAGE.py ARGS`` in ``project``; keyword arguments: settings of ``finetune``,
    or ``pretrain_lr`` or ``devices`` (``grid.devices``), for this run only."""
    path = project / "params.yaml"
    original = path.read_text()
    params = yaml.safe_load(original)
    if "pretrain_lr" in finetune:
        params["pretrain"]["lr"] = finetune.pop("pretrain_lr")
    if "devices" in finetune:
        params["grid"]["devices"] = finetune.pop("devices")
    params["finetune"] |= finetune
    path.write_text(yaml.safe_dump(params))
    try:
        return subprocess.run(
            [sys.executable, ROOT / "stages" / f"{stage}.py", *args],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        path.write_text(original)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    return line


def test_a_diverging_run_fails_the_finetune_stage_and_nothing_of_it_is_kept(project):
    result = stage_run(
        project, "finetune", "main_table", "synthetic", "nmf", devices=["cpu"], lr=1000
    )
    line = one_error_line(result)
    assert "-beta0.2-seed1: the training MSE of step 2 (epoch 1) is " in line
    assert line.endswith("(the learning rate is finetune.lr = 1000 in params.yaml)")
    assert not (project / "models" / "synthetic" / "nmf" / "main_table").exists()
    assert not (project / "metrics" / "synthetic" / "nmf" / "main_table.json").exists()
    assert hidden(project / "models") == [] and hidden(project / "metrics") == []


def test_a_diverging_pretraining_fails_its_stage_and_keeps_the_models_there_were(project):
    bases = project / "models" / "synthetic" / "nmf" / "base"
    before = {path.name: path.read_bytes() for path in bases.iterdir()}
    result = stage_run(project, "pretrain", "synthetic", "nmf", devices=["cpu"], pretrain_lr=1000)
    line = one_error_line(result)
    assert line.startswith("error: synthetic/nmf seed 1: the validation MSE after epoch 1 is ")
    assert line.endswith("(the learning rate is pretrain.lr = 1000 in params.yaml)")
    assert {path.name: path.read_bytes() for path in bases.iterdir()} == before
    assert hidden(project / "models") == []


MISSING = (
    " is missing: run dvc repro, which builds what this stage needs first, or restore it with "
    "git checkout if git tracks it"
)


def test_a_stage_run_before_the_stages_it_needs_names_the_missing_input(project, tmp_path):
    (tmp_path / "params.yaml").write_text((project / "params.yaml").read_text())
    line = one_error_line(stage_run(tmp_path, "similarity", "synthetic"))
    assert line == "error: data/prepared/synthetic/items.parquet" + MISSING  # polars' own error
    line = one_error_line(stage_run(tmp_path, "rerank", "synthetic", "nmf"))
    assert line == "error: data/prepared/synthetic/meta.json" + MISSING
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]  # nothing written
