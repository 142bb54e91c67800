"""The project as a package: a wheel built from it holds the whole library."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_a_wheel_holds_every_module_of_the_library(tmp_path):
    """``pip wheel --no-deps .`` (as a user installing without ``-e`` gets it) packs every module of
    divlib and its subpackages, e.g. divlib/train and divlib/data, which an explicit package list
    without them left out. Built from a copy, so that the build leaves nothing in the project."""
    source = tmp_path / "source"
    shutil.copytree(
        ROOT / "divlib", source / "divlib", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(source)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("divlib-*.whl")
    packed = {name for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".py")}
    modules = {path.relative_to(ROOT).as_posix() for path in (ROOT / "divlib").rglob("*.py")}
    assert {"divlib/train/diversify.py", "divlib/data/registry.py"} <= modules
    assert packed == modules
