"""The DVC pipeline end to end, through `dvc repro`, in a temporary git repository (tiny settings)."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TINY = {"users": 60, "items": 80, "ratings": 1500, "categories": 6, "seed": 2}


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = os.environ | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "ITERATIVE_DO_NOT_TRACK": "1",
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }  # fmt: skip
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A git + DVC repository holding this project's stages and dvc.yaml, set to the synthetic data."""
    for name in ("stages", "divlib", "notebooks", "reports/paper", "dvc.yaml", ".dvcignore"):
        source = ROOT / name
        if source.is_dir():  # the stages import the installed divlib; its files are DVC deps here
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / name)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["datasets"], params["models"] = ["synthetic"], ["nmf"]
    params["data"]["options"]["synthetic"] = TINY
    params["pretrain"]["epochs"] = 2
    params["finetune"] |= {
        "methods": ["ddt", "ddt-adaptive"],
        "betas": [0.5],
        "epochs": 1,
        "batch_size": 512,
    }
    params["finetune"]["scratch"] |= {"epochs": 1, "batch_size": 512, "users_per_step": 20}
    params["sensitivity"] |= {"eps": ["auto", 0.01], "ks": [5], "epochs": 1}
    params["rerank"] |= {"pool": 24, "mmr_lambdas": [0.5], "dpp_thetas": [0.5]}
    params["evaluate"]["ks"] = [5, 10]
    params["tables"]["choose"] |= {"dpp": 0.5}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    for command in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"]):
        assert run(command, tmp_path).returncode == 0
    return tmp_path


def test_dvc_repro_runs_every_stage_and_then_has_nothing_to_do(project):
    first = run([sys.executable, "-m", "dvc", "repro"], project)
    assert first.returncode == 0, first.stdout + first.stderr
    prepared = project / "data" / "prepared" / "synthetic"
    tables = {
        name: pl.read_parquet(prepared / f"{name}.parquet")
        for name in ("ratings", "train", "val", "test")
    }
    assert len(tables["train"]) + len(tables["val"]) + len(tables["test"]) == len(tables["ratings"])
    assert (project / "data" / "similarity" / "synthetic" / "distance.pt").is_file()
    assert (project / "metrics" / "synthetic" / "data.json").is_file()
    finetuned = json.loads(
        (project / "metrics" / "synthetic" / "nmf" / "finetune.json").read_text()
    )
    assert set(finetuned) == {
        "ddt-beta0.5-seed1",
        "ddt-adaptive-seed1",
        "ddt-scratch-beta0.5-seed1",
    }
    evaluated = json.loads(
        (project / "metrics" / "synthetic" / "nmf" / "evaluate.json").read_text()
    )
    assert set(evaluated) == {
        "base",
        "ddt-0.5",
        "ddt-adaptive",
        "ddt-scratch-0.5",
        "dum",
        "mmr-0.5",
        "dpp-0.5",
    }
    assert evaluated["ddt-0.5"]["dro@10"] > evaluated["base"]["dro@10"]
    per_user = pl.read_parquet(
        project / "data" / "evaluation" / "synthetic" / "nmf" / "per_user.parquet"
    )
    assert per_user.height == 7 * 2 * TINY["users"]  # runs × ks × users
    sensitivity = pl.read_parquet(
        project / "data" / "sensitivity" / "synthetic" / "results.parquet"
    )
    assert sensitivity["eps_setting"].to_list() == ["auto", "0.01"]
    report = (project / "reports" / "synthetic" / "report.html").read_text()
    assert "data:image/png;base64," in report and "synthetic" in report
    figures = sorted((project / "reports" / "synthetic" / "figures").glob("*.png"))
    assert len(figures) == 6 and all(f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in figures)
    assert (project / "reports" / "synthetic" / "tables" / "main.tex").is_file()
    first_bytes = {f.name: f.read_bytes() for f in figures}
    again = run([sys.executable, "stages/figures.py", "synthetic"], project)
    assert again.returncode == 0, again.stderr
    assert first_bytes == {f.name: f.read_bytes() for f in figures}  # byte-stable figures
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                "--master-port", "29517", "stages/finetune_distributed.py", "synthetic", "nmf", "ddt",
                "0.5", "1"]  # fmt: skip
    distributed = run(torchrun, project)
    assert distributed.returncode == 0, distributed.stderr
    ddp = json.loads(
        (project / "data/distributed/synthetic/nmf/ddt-beta0.5-seed1/run.json").read_text()
    )
    serial = finetuned["ddt-beta0.5-seed1"]
    grid_run = json.loads(
        (project / "models/synthetic/nmf/runs/ddt-beta0.5-seed1/run.json").read_text()
    )
    for key in (
        "method",
        "param",
        "seed",
        "options",
        "diversity",
    ):  # the grid's run, settings and seed
        assert ddp[key] == grid_run[key], key
    assert ddp["world_size"] == 2 and abs(ddp["val_mse"] - serial["val_mse"]) < 1e-4
    assert abs(ddp["dro_after"] - serial["dro_after"]) < 1e-3  # the same run, on two gloo processes
    second = run([sys.executable, "-m", "dvc", "repro"], project)
    assert second.returncode == 0 and "Data and pipelines are up to date" in second.stdout
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["finetune"]["betas"] = [0.3]
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    third = run([sys.executable, "-m", "dvc", "repro"], project)
    ran = {name.split("@")[0] for name in re.findall(r"Running stage '([^']+)'", third.stdout)}
    assert {"finetune", "evaluate", "figures", "tables", "report"} <= ran
    assert not ran & {"download", "prepare", "similarity", "pretrain", "rerank", "sensitivity"}


def test_a_bad_parameter_fails_the_stage_with_one_line(project):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"]["test_fraction"] = 1.5
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    result = run([sys.executable, "-m", "dvc", "repro"], project)
    assert result.returncode != 0
    assert (
        "error: params.yaml: data.test_fraction: Input should be less than 1 (got 1.5)"
        in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert not (project / "data" / "prepared" / "synthetic").exists()
