"""The tables and report stages on a tiny fake pipeline output tree: tables written, the notebook run
under papermill with the dataset injected, a self-contained HTML page, byte-identical across runs."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import polars as pl
import pytest
import yaml

from divlib.evaluation import summarize

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RUNS = [("base", None, 0), ("ddt", 0.5, 1), ("ddt", 0.5, 2), ("ddt-adaptive", None, 1),
        ("mdr", 0.5, 1), ("mmr", 0.5, 0), ("dum", None, 0), ("dpp", 0.7, 0)]  # fmt: skip


def per_user(users: int = 6, ks: tuple[int, ...] = (5, 10)) -> pl.DataFrame:
    """Random per-user metrics of every run, the diversifiers more diverse than the base model."""
    rng = np.random.default_rng(0)
    frames = []
    for method, param, seed in RUNS:
        for k in ks:
            lift = 0.0 if method == "base" else 0.3
            frames.append(pl.DataFrame({
                "k": k, "user": np.arange(users), "dro": 0.6 + lift + 0.05 * rng.random(users),
                "dro_beyond": 0.7 + 0.1 * rng.random(users), "coverage": rng.random(users),
                "relevance": 0.9 + 0.05 * rng.random(users), "recall": rng.random(users),
                "method": method, "param": param, "seed": seed, "dataset": "toy", "model": "nmf",
            }, schema_overrides={"param": pl.Float64, "seed": pl.Int64}))  # fmt: skip
    return pl.concat(frames)


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """The few pipeline outputs the tables and report stages read, for dataset "toy", model "nmf"."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["models"], params["evaluate"]["ks"] = ["nmf"], [5, 10]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (tmp_path / "reports" / "paper").mkdir(parents=True)
    shutil.copy(ROOT / "reports" / "paper" / "published.csv", tmp_path / "reports" / "paper")
    summary = tmp_path / "data" / "evaluation" / "toy" / "nmf" / "summary.parquet"
    summary.parent.mkdir(parents=True)
    summarize(per_user()).write_parquet(summary)
    metrics = tmp_path / "metrics" / "toy" / "nmf"
    write_json(metrics / "pretrain.json", {"val_mse": 0.9, "selected_epoch": 3})
    write_json(metrics / "finetune.json", {"ddt-beta0.5-seed1": {"dro_before": 0.6, "dro_after": 0.9,
                                                                 "val_mse": 0.91, "diversity": {}}})  # fmt: skip
    write_json(metrics / "evaluate.json", {"base": {"dro@10": 0.61, "relevance@10": 0.92},
                                           "ddt-0.5": {"dro@10": 0.93, "relevance@10": 0.91}})  # fmt: skip
    meta = {"users": 6, "items": 20, "ratings": 60, "density": 0.5, "rating_min": 1.0,
            "rating_max": 5.0, "categories": 3, "category_sets": 5, "catalogue_dro": 0.7,
            "split": {"train": 40, "val": 10, "test": 10}, "source": "generator"}  # fmt: skip
    write_json(tmp_path / "data" / "prepared" / "toy" / "meta.json", meta)
    return tmp_path


def params_choice(tree: Path) -> dict:
    return yaml.safe_load((tree / "params.yaml").read_text())["tables"]["choose"]


def stage(name: str, cwd: Path) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "stages" / f"{name}.py"), "toy"], cwd=cwd,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr


def save_figure(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(figsize=(1, 1))
    axes.plot([0, 1], [1, 0])
    figure.savefig(path, dpi=20)
    plt.close(figure)


@pytest.mark.slow
def test_tables_then_report_give_a_self_contained_stable_page(tree):
    stage("tables", tree)
    tables = tree / "reports" / "toy" / "tables"
    assert sorted(p.name for p in tables.iterdir()) == [
        "gain_beyond_k.md", "gain_beyond_k.tex", "main.md", "main.tex"]  # fmt: skip
    assert "| DDT (β = 0.5) |" in (tables / "main.md").read_text()

    stage("report", tree)
    report = tree / "reports" / "toy" / "report.html"
    html = report.read_text()
    assert "Diversity report: toy" in html
    assert "<td>DDT (β = 0.5)</td>" in html
    assert "raises DRO@10 from" in html
    assert "Figure tradeoff is missing" in html and 'src="data:image/png;base64,' not in html
    assert '<script src="http' not in html

    save_figure(tree / "reports" / "toy" / "figures" / "tradeoff.png")
    stage("report", tree)
    first = report.read_bytes(), report.with_suffix(".ipynb").read_bytes()
    assert b'src="data:image/png;base64,' in first[0] and b"Figure tradeoff is" not in first[0]
    assert b"Figure beta_sweep is missing" in first[0]
    stage("report", tree)
    assert (report.read_bytes(), report.with_suffix(".ipynb").read_bytes()) == first
    executed = json.loads(first[1])
    injected = executed["metadata"]["papermill"]["parameters"]
    assert injected == {"dataset": "toy", "root": ".", "choose": params_choice(tree)}
