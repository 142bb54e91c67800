"""The README's example of DDRO in one's own model runs as written, and trains for diversity."""

import re
from pathlib import Path

from test_packaging import without_study

README = Path(__file__).resolve().parents[1] / "README.md"


def run_example(code: str, folder: Path) -> float:
    """The example's DRO@10, run where only torch and torchsort are installed."""
    result = without_study(code, folder)
    assert result.returncode == 0, result.stderr
    return float(re.search(r"DRO@10 ([0-9.]+)", result.stdout).group(1))


def test_readme_example_runs_and_beats_relevance_only_training(tmp_path):
    section = README.read_text().split("## Use the objective in your own model")[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    assert "model, beta = DotModel(), 0.5" in code
    relevance_only = code.replace("model, beta = DotModel(), 0.5", "model, beta = DotModel(), 1.0")
    diverse = run_example(code, tmp_path / "a")
    assert diverse > run_example(relevance_only, tmp_path / "b") + 0.02  # measured: 0.954 vs 0.909
