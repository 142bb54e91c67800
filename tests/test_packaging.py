"""The project as a package: a wheel built from it holds the whole library, and the method library
imports with torch and torchsort alone (the study's packages are the extra ``study``)."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STUDY_PACKAGES = (
    "dvc",
    "papermill",
    "polars",
    "matplotlib",
    "pydantic",
    "yaml",
    "scipy",
    "tqdm",
    "nbconvert",
    "jupytext",
    "numpy",
)


def without_study(code: str, folder: Path) -> subprocess.CompletedProcess:
    """Run ``python -c code`` where none of the study's packages (nor numpy) exists, as in an
    environment with torch and torchsort alone: without site (so no .pth file runs), without writing
    bytecode into the project, on a path of links to this environment's site-packages less those
    packages, and the project's root."""
    folder.mkdir()
    (site,) = {Path(p) for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()}
    for entry in site.iterdir():
        top = entry.name.split("-")[0].split(".")[0].lower()
        if top not in STUDY_PACKAGES and not top.startswith("__editable__"):
            (folder / entry.name).symlink_to(entry)
    environment = {"PYTHONPATH": f"{folder}:{ROOT}", "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-S", "-B", "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
    )


METHOD_LIBRARY = sorted(  # every module outside the study
    ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    for path in (ROOT / "divlib").rglob("*.py")
    if "study" not in path.relative_to(ROOT).parts
)


def test_the_method_library_imports_without_the_study_packages(tmp_path):
    """Every module of the method library imports where none of the study's packages exists."""
    code = "".join(f"import {module}\n" for module in METHOD_LIBRARY) + "print('imported')"
    done = without_study(code, tmp_path / "site")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported"


@pytest.mark.slow
def test_a_wheel_holds_every_module_of_the_library(tmp_path):
    """``pip wheel --no-deps .`` (as a user installing without ``-e`` gets it) packs every module of
    divlib and its subpackages, e.g. divlib/train and divlib/study/data, which an explicit package list
    without them left out. Built from a copy, so that the build leaves nothing in the project."""
    source = tmp_path / "source"
    shutil.copytree(
        ROOT / "divlib", source / "divlib", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("divlib-*.whl")
    packed = {name for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".py")}
    modules = {path.relative_to(ROOT).as_posix() for path in (ROOT / "divlib").rglob("*.py")}
    assert {"divlib/train/diversify.py", "divlib/study/data/registry.py"} <= modules
    assert packed == modules
