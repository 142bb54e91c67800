"""The DVC pipeline end to end, through `dvc repro`, in a temporary git repository (tiny settings).

Slow (minutes): ``make test-fast`` leaves it out, ``make test`` runs it."""

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

from divlib.study.tables import HEADLINE

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
TINY = {"users": 60, "items": 80, "ratings": 1500, "categories": 6, "seed": 2}


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = os.environ | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "ITERATIVE_DO_NOT_TRACK": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def make_project(tmp_path: Path) -> Path:
    """A git + DVC repository holding this project's stages and dvc.yaml, set to the synthetic data."""
    for name in (
        "stages",
        "divlib",
        "notebooks",
        "reports/paper",
        "dvc.yaml",
        ".dvcignore",
        ".gitignore",
    ):
        source = ROOT / name
        if source.is_dir():  # the stages import the installed divlib; its files are DVC deps here
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / name)
    pipeline = tmp_path / "dvc.yaml"  # its plots: the default dataset's figures
    pipeline.write_text(pipeline.read_text().replace("reports/ml-100k/", "reports/synthetic/"))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["datasets"], params["models"], params["seeds"] = ["synthetic"], ["nmf"], [1, 2]
    params["data"]["options"]["synthetic"] = TINY
    params["pretrain"] |= {"max_epochs": 4, "patience": 1}
    params["finetune"] |= {"batch_size": 512}
    tiny = {"models": ["nmf"], "epochs": 2}
    params["beta_sweep"] |= tiny | {"methods": ["ddt"], "betas": [0.5, 1]}
    params["main_table"] |= tiny | {"seeds": [1]}
    params["gain_beyond_k"] |= tiny | {"methods": ["ddt"], "ks": [5, 10], "seeds": [2]}
    params["training_curves"] |= tiny | {"methods": ["ddt"], "scratch_batch_size": 512}
    params["adaptive_beta"] |= tiny | {"rules": ["min-norm"], "seeds": [1]}
    params["sensitivity"] |= {"eps": ["auto", 0.01], "ks": [5], "epochs": 1}
    params["rerank"] |= {"pool": 24, "mmr_lambdas": [0.5], "dpp_thetas": [0.5]}
    params["dgrec"] |= {"epochs": 5, "dim": 8}
    params["evaluate"]["ks"] = [5, 10]
    recipes = {"long": {"max_epochs": 3, "patience": None, "select": "last"}}
    variants = {"long": {"recipe": "long"}, "embedding-cosine": {"similarity": "embedding-cosine"}}
    params["robustness"] |= {"seeds": [2], "ks": [5], "recipes": recipes, "variants": variants}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    for command in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"]):
        assert run(command, tmp_path).returncode == 0
    for name in ("config", "plots.html"):  # the project's DVC settings, its plots page among them
        shutil.copy(ROOT / ".dvc" / name, tmp_path / ".dvc" / name)
    return tmp_path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh tiny project of its own."""
    return make_project(tmp_path)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> Path:
    """The tiny project after one ``dvc repro``, shared by the tests below in file order: those that
    only read it first, ``test_the_readme_recipes`` (which commits and runs experiments) last."""
    project = make_project(tmp_path_factory.mktemp("pipeline"))
    first = run([sys.executable, "-m", "dvc", "repro"], project)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "stage finetune gain_beyond_k synthetic nmf done in" in first.stdout + first.stderr
    return project


def read_json(project: Path, path: str) -> dict:
    return json.loads((project / path).read_text())


def test_prepared_data_and_similarity(pipeline):
    prepared = pipeline / "data" / "prepared" / "synthetic"
    tables = {
        name: pl.read_parquet(prepared / f"{name}.parquet")
        for name in ("ratings", "train", "val", "test")
    }
    assert len(tables["train"]) + len(tables["val"]) + len(tables["test"]) == len(tables["ratings"])
    assert (pipeline / "data" / "similarity" / "synthetic" / "distance.pt").is_file()


def test_one_pretrained_model_per_seed(pipeline):
    pretrained = read_json(pipeline, "metrics/synthetic/pretrain/nmf.json")
    assert set(pretrained) == {"seed1", "seed2"}  # one model per seed, its epoch recorded
    for seed in pretrained.values():
        assert 1 <= seed["selected_epoch"] <= seed["epochs_run"] <= 4


def test_each_experiment_runs_its_grid_and_keeps_times_apart(pipeline):
    swept = read_json(pipeline, "metrics/synthetic/nmf/beta_sweep.json")
    assert set(swept) == {f"ddt-beta{b}-seed{s}" for b in (0.5, 1) for s in (1, 2)}  # 1: control
    runs = pipeline / "models" / "synthetic" / "nmf"
    for k in (5, 10):  # one fine-tuning per k, trained for it and evaluated at it
        run_json = read_json(runs, f"gain_beyond_k/ddt-beta0.5-k{k}-seed2/run.json")
        assert run_json["diversity"]["k"] == run_json["train_k"] == k
        assert run_json["options"]["select"] == "most-diverse" and run_json["selected_epoch"] >= 1
        steps = pl.read_parquet(runs / f"gain_beyond_k/ddt-beta0.5-k{k}-seed2/steps.parquet")
        assert "seconds" not in steps.columns and "wall_seconds" not in run_json  # times: apart
        timed = read_json(pipeline, "times/synthetic/nmf/gain_beyond_k.json")
        timed = timed[f"ddt-beta0.5-k{k}-seed2"]  # time to plan a sweep by
        assert len(timed["step_seconds"]) == steps.height and timed["device"] == "cpu"
        assert 0 < sum(timed["step_seconds"]) < timed["wall_seconds"]
    curves = {p.name for p in (runs / "training_curves").iterdir()}
    assert curves == {"ddt-beta0.2-seed1", "ddt-scratch-beta0.2-seed1"}  # its own seeds: [1]


def test_evaluations_of_runs_baselines_and_sensitivity(pipeline):
    evaluation = pipeline / "data" / "evaluation" / "synthetic" / "nmf"
    gains = pl.read_parquet(evaluation / "gain_beyond_k" / "summary.parquet")
    own_k = gains.filter(pl.col("method") == "ddt", pl.col("k") == pl.col("train_k"))
    assert sorted(own_k["k"].to_list()) == [5, 10]
    baselines = pl.read_parquet(evaluation / "baselines" / "per_user.parquet")
    methods = set(baselines["method"].unique())
    reranked = {"dum", "mmr", "dpp", "mmr-paper", "dpp-paper"}
    assert methods == {"base", *reranked, "popular", "random", "dgrec"}
    assert baselines.height == 2 * 9 * 2 * TINY["users"]  # seeds × methods × ks × users
    per_run = pl.read_parquet(evaluation / "baselines" / "per_run.parquet")
    assert per_run.height == 2 * 9 * 2  # seeds × methods × ks: one aggregate row per run and k
    assert gains["item_coverage"].is_between(0, 1).all() and gains["gini"].null_count() == 0
    sensitivity = pl.read_parquet(
        pipeline / "data" / "sensitivity" / "synthetic" / "results.parquet"
    )
    assert sensitivity["eps_setting"].to_list() == ["auto", "0.01"]


def test_report_tables_and_byte_stable_figures(pipeline):
    report = (pipeline / "reports" / "synthetic" / "report.html").read_text()
    assert "data:image/png;base64," in report and "synthetic" in report
    tables_folder = pipeline / "reports" / "synthetic" / "tables"
    for name in ("table3", "table4", "table5", "table6", "verdicts", "robustness"):
        assert (tables_folder / f"{name}.md").is_file(), name
    robustness = read_json(pipeline, "reports/synthetic/tables/robustness.json")
    assert robustness["columns"] == ["embedding-cosine", "long"]  # one per variant, in order
    assert [row[0][:2] for row in robustness["rows"]] == ["NM", "Q2", "Q3"]
    figures = sorted((pipeline / "reports" / "synthetic" / "figures").glob("*.png"))
    assert {"fig1_beta_sweep.png", "fig2_training_curves.png", "robustness_gain_beyond_k.png"} <= {
        f.name for f in figures
    }
    assert all(f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in figures)
    first_bytes = {f.name: f.read_bytes() for f in figures}
    again = run([sys.executable, "stages/figures.py", "synthetic"], pipeline)
    assert again.returncode == 0, again.stderr
    assert first_bytes == {f.name: f.read_bytes() for f in figures}  # byte-stable figures


def test_a_torchrun_run_equals_the_grids(pipeline):
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        "29517",
        "stages/finetune_distributed.py",
        "beta_sweep",
        "synthetic",
        "nmf",
        "ddt-beta0.5-seed1",
    ]
    distributed = run(torchrun, pipeline)
    assert distributed.returncode == 0, distributed.stderr
    ddp = read_json(pipeline, "data/distributed/synthetic/nmf/ddt-beta0.5-seed1/run.json")
    grid_run = read_json(pipeline, "models/synthetic/nmf/beta_sweep/ddt-beta0.5-seed1/run.json")
    for key in ("method", "param", "seed", "options", "diversity"):  # the grid's run and settings
        assert ddp[key] == grid_run[key], key
    assert ddp["world_size"] == 2 and abs(ddp["val_mse"] - grid_run["val_mse"]) < 1e-4
    assert abs(ddp["dro_after"] - grid_run["dro_after"]) < 1e-3  # the same run on two processes
    timed = read_json(pipeline, "times/synthetic/nmf/distributed-ddt-beta0.5-seed1.json")
    assert set(timed["ddt-beta0.5-seed1"]) == {"device", "wall_seconds", "step_seconds"}


def test_nothing_to_do_after_repro_and_each_stage_time_recorded(pipeline):
    second = run([sys.executable, "-m", "dvc", "repro"], pipeline)
    assert second.returncode == 0 and "Data and pipelines are up to date" in second.stdout
    stages = [
        json.loads(line)["stage"]
        for line in (pipeline / "times" / "stages.jsonl").read_text().splitlines()
    ]
    assert "finetune beta_sweep synthetic nmf" in stages and "report synthetic" in stages


def test_the_readme_recipes(pipeline):
    readme_recipes(pipeline)


def dvc(project: Path, *arguments: str) -> subprocess.CompletedProcess:
    done = run([sys.executable, "-m", "dvc", *arguments], project)
    assert done.returncode == 0, f"dvc {' '.join(arguments)}: {done.stdout}{done.stderr}"
    return done


def reset(project: Path) -> None:
    """The README's reset: ``git checkout HEAD -- . && dvc checkout``."""
    for command in (
        ["git", "checkout", "HEAD", "--", "."],
        [sys.executable, "-m", "dvc", "checkout"],
    ):
        done = run(command, project)
        assert done.returncode == 0, f"{' '.join(command)}: {done.stdout}{done.stderr}"


def readme_recipes(project: Path) -> None:
    """The README's `dvc exp` recipes on the committed tiny pipeline: an experiment reruns only what
    depends on its params; metrics diff gives numeric deltas of the headline numbers; the reset
    restores params and outputs, also after an experiment refused for a bad value (which leaves the
    value in params.yaml and that stage's outputs removed); after a β and a k experiment,
    `dvc exp show --only-changed` (less the inputs' hashes) fits a terminal and shows the changed
    params; values at different k never share a name; plots diff writes the figures of both
    experiments as images."""
    for command in (["git", "add", "-A"], ["git", "commit", "-qm", "tiny"]):
        assert run(command, project).returncode == 0
    rerun = [
        "finetune-beta-sweep@synthetic-nmf",
        "rerank@synthetic-nmf",
        "sensitivity@synthetic",
        "evaluate-beta-sweep@synthetic-nmf",
        "figures@synthetic",
        "tables@synthetic",
        "report@synthetic",
    ]
    dvc(project, "repro", "-f", "-s", *rerun)  # each stage again: the same results, new times
    status = run(["git", "status", "--porcelain"], project).stdout
    assert status == "", f"a rerun that changes no result left git status dirty:\n{status}"
    placed = yaml.safe_load((project / "params.yaml").read_text())
    placed["grid"] |= {"devices": ["cpu"], "cpu_workers": 1, "backend": "ray"}  # placement only
    (project / "params.yaml").write_text(yaml.safe_dump(placed))
    assert "Data and pipelines are up to date" in dvc(project, "status").stdout
    assert run(["git", "checkout", "--", "params.yaml"], project).returncode == 0
    headline = project / "metrics" / "synthetic" / "headline.json"
    committed = (project / "params.yaml").read_text(), headline.read_text()
    assert set(json.loads(committed[1])["nmf"]) == {"base", "mmr", "dum", "dpp", "ddt", "mdr"}
    beta = dvc(project, "exp", "run", "-n", "beta", "-S", "main_table.betas=[0.5]")
    ran = {name.split("@")[0] for name in re.findall(r"Running stage '([^']+)'", beta.stdout)}
    assert {"finetune-main-table", "evaluate-main-table", "tables", "report"} <= ran
    others = ("baselines", "beta-sweep", "gain-beyond-k", "adaptive-beta")  # their own runs only
    assert not ran & {
        "pretrain",
        "dgrec",
        "rerank",
        "finetune-beta-sweep",
        "finetune-gain-beyond-k",
        "finetune-training-curves",
        "finetune-adaptive-beta",
        "sensitivity",
        *(f"evaluate-{other}" for other in others),
    }
    moved = json.loads(dvc(project, "metrics", "diff", "--json").stdout)
    moved = moved["metrics/synthetic/headline.json"]
    assert moved and set(moved) <= {
        f"nmf.{m}.{v}@10"
        for m in ("ddt", "mdr")
        for v in HEADLINE[m]  # DDT's and MDR's headline numbers only
    }
    assert all(isinstance(change["diff"], float) for change in moved.values()), moved
    reset(project)
    assert ((project / "params.yaml").read_text(), headline.read_text()) == committed
    refused = run(
        [
            sys.executable,
            "-m",
            "dvc",
            "exp",
            "run",
            "-n",
            "bad",
            "-S",
            "main_table.betas=[0.5,0.5]",
        ],
        project,
    )
    assert refused.returncode != 0 and "main_table.betas" in refused.stderr
    assert "Traceback" not in refused.stderr
    reset(project)  # the refused value left in params.yaml, the stage's outputs removed: restored
    assert ((project / "params.yaml").read_text(), headline.read_text()) == committed
    assert "Data and pipelines are up to date" in dvc(project, "status").stdout
    # what a killed `dvc exp run -S` leaves (measured on ml-100k): its -S value in params.yaml, staged
    # in git's index (so `git checkout -- .` alone keeps it), and the started stage's outputs removed
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["main_table"]["betas"] = [0.5]
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    assert run(["git", "add", "params.yaml"], project).returncode == 0
    shutil.rmtree(project / "models" / "synthetic" / "nmf" / "main_table")
    reset(project)
    assert ((project / "params.yaml").read_text(), headline.read_text()) == committed
    assert "Data and pipelines are up to date" in dvc(project, "status").stdout
    dvc(project, "exp", "run", "-n", "k5", "-S", "diversity.k=5")
    hashes = ["--drop", "(data|models|reports)/"]  # the inputs' hashes (one column per input)
    table = dvc(project, "exp", "show", "--only-changed", *hashes, "--md", "--no-pager").stdout
    columns = [cell.strip() for cell in table.splitlines()[0].strip("|").split("|")]  # as printed
    assert len(columns) <= 36 and {"main_table.betas", "diversity.k"} <= set(columns), columns
    assert {"nmf.ddt.dro@10", "nmf.ddt.dro@5"} <= set(columns)  # never one name for two ks
    dvc(project, "plots", "diff", "beta", "k5", "-o", "compared")
    page = (project / "compared" / "index.html").read_text()
    assert "<title>divlib: the report's figures, side by side</title>" in page  # .dvc/plots.html
    images = re.findall(r'<img src="([^"]+)"', page)
    assert len(images) == 2 * 10 and all((project / "compared" / i).is_file() for i in images)


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
