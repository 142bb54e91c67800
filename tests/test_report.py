"""The report stage on a tiny fake pipeline output tree: the notebook run under papermill with the
settings of params.yaml injected, the paper's order of figures and tables, missing outputs named, a
self-contained HTML page, byte-identical across runs."""

import json
import re
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest
import yaml

from divlib.study.render import Table, write_table

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TABLES = {  # the tables stage's tables: name, a caption and a row only it has
    "table3": Table(
        "Table III, synthetic", "method", (), ("DRO@10",), (("DDT (β = 0.2)", ("0.97",)),)
    ),
    "table4": Table("Table IV, synthetic", "model", (), ("1∼k k=5",), (("NMF", ("41.4 (13.1)",)),)),
    "table5": Table(
        "Table V, synthetic", "rank", (), ("title_before",), (("1", ("Heat (1995)",)),)
    ),
    "verdicts": Table("Verdicts", "claim", (), ("verdict",), (("Q1", ("reproduced",)),)),
}
ORDER = [  # what the report shows, in the paper's order
    "Fig. 1.</strong>",
    "<td>DDT (β = 0.2)</td>",
    "Figure q2_pareto_predicted is missing",
    "Figure q2_pareto_ndcg is missing",
    "41.4 (13.1)",
    "Table VI is missing",
    "Figure fig2_training_curves is missing",
    "Heat (1995)",
    "Lemma 3.</strong>",
    ">reproduced</td>",
    "Figure tradeoff is missing",
    "Figure sensitivity is missing",
    "Figure fig4_beta_sweep_appendix is missing",
    "Figure category_histogram is missing",
]


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def save_figure(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(figsize=(1, 1))
    axes.plot([0, 1], [1, 0])
    figure.savefig(path, dpi=20)
    plt.close(figure)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """The outputs the report reads, for dataset "synthetic", model "nmf": params.yaml (seeds 1, 2, 3;
    training curves seed 1 only; Table III 7 epochs, all seeds), meta.json, pretraining metrics, four of the five
    tables (Table VI missing) and two figures (Fig. 1 and Lemma 3)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["models"], params["seeds"] = ["nmf"], [1, 2, 3]
    params["main_table"]["epochs"], params["main_table"]["seeds"] = 7, "all"
    params["training_curves"]["seeds"] = [1]
    for experiment in ("beta_sweep", "gain_beyond_k", "training_curves", "adaptive_beta"):
        params[experiment]["models"] = ["nmf"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    meta = {
        "users": 6,
        "items": 20,
        "ratings": 60,
        "density": 0.5,
        "rating_min": 1.0,
        "rating_max": 5.0,
        "categories": 3,
        "category_sets": 5,
        "catalogue_dro": 0.7,
        "split": {"train": 40, "val": 10, "test": 10},
        "source": "generator",
    }
    write_json(tmp_path / "data" / "prepared" / "synthetic" / "meta.json", meta)
    write_json(
        tmp_path / "metrics" / "synthetic" / "pretrain" / "nmf.json",
        {"seed1": {"val_mse": 0.9123, "selected_epoch": 3, "epochs_run": 8}},
    )
    reports = tmp_path / "reports" / "synthetic"
    (reports / "tables").mkdir(parents=True)
    for name, table in TABLES.items():
        write_table(table, reports / "tables" / f"{name}.json")
    for name in ("fig1_beta_sweep", "fig_lemma3_adaptive_beta"):
        save_figure(reports / "figures" / f"{name}.png")
    return tmp_path


def report(cwd: Path) -> tuple[bytes, bytes]:
    done = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "report.py"), "synthetic"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    page = cwd / "reports" / "synthetic" / "report.html"
    return page.read_bytes(), page.with_suffix(".ipynb").read_bytes()


@pytest.mark.slow
def test_the_report_follows_the_paper_and_states_seeds_and_epochs(tree):
    html, notebook = report(tree)
    text = html.decode()
    assert "Diversity report: synthetic" in text and '<script src="http' not in text
    assert "seeds 1, 2, 3" in text and "Q4: Fig. 2 uses seed 1 only" in text
    rows = re.findall(r"<tr>\s*<td>(\w+)</td>.*?</tr>", text, flags=re.DOTALL)
    assert rows[:5] == [
        "beta_sweep",
        "main_table",
        "gain_beyond_k",
        "training_curves",
        "adaptive_beta",
    ]
    cells = r"\s*".join(
        f"<td[^>]*>{cell}</td>" for cell in ("main_table", "Q2: Table III", "NMF", "1, 2, 3", "7")
    )
    assert re.search(cells, text)
    assert re.search(r"<td[^>]*>0.9123</td>", text)  # pretraining, seed 1
    positions = [text.find(marker) for marker in ORDER]
    assert -1 not in positions and positions == sorted(positions), dict(
        zip(ORDER, positions, strict=True)
    )
    assert text.count('src="data:image/png;base64,') == 2
    assert "<p>Table III, synthetic</p>" in text  # each table's caption, under the report's lead
    injected = json.loads(notebook)["metadata"]["papermill"]["parameters"]
    assert injected["seeds"] == [1, 2, 3] and injected["k"] == 10 and injected["models"] == ["nmf"]
    assert injected["experiments"]["training_curves"]["seeds"] == [1]
    assert injected["experiments"]["main_table"] == {
        "models": ["nmf"],
        "seeds": [1, 2, 3],
        "epochs": 7,
    }
    assert "choose" not in injected


@pytest.mark.slow
def test_the_report_is_byte_stable_and_shows_a_figure_once_it_exists(tree):
    first = report(tree)
    assert b"Figure tradeoff is missing" in first[0]
    save_figure(tree / "reports" / "synthetic" / "figures" / "tradeoff.png")
    second = report(tree)
    assert b"Figure tradeoff is missing" not in second[0]
    assert second[0].count(b'src="data:image/png;base64,') == 3
    assert report(tree) == second
