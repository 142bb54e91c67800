"""Atomic outputs: a directory is swapped in whole, an earlier interruption's leftovers are removed
(and DVC never hashes them), a full disk is one line and leaves nothing."""

import errno
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import torch

from divlib.errors import DivlibError
from divlib.io import atomic_path, save_tensors

ROOT = Path(__file__).resolve().parents[1]


def hidden(folder):
    return sorted(entry.name for entry in folder.iterdir() if entry.name.startswith("."))


def test_a_directory_is_replaced_whole_and_nothing_hidden_stays(tmp_path):
    target = tmp_path / "runs"
    for content in ("old", "new"):
        with atomic_path(target) as temporary:
            temporary.mkdir()
            (temporary / f"{content}.txt").write_text(content)
    assert [entry.name for entry in target.iterdir()] == ["new.txt"]
    assert hidden(tmp_path) == []


def test_an_error_keeps_the_old_output_and_removes_the_temporary(tmp_path):
    target = tmp_path / "runs"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as temporary:
        temporary.mkdir()
        raise KeyboardInterrupt
    assert (target / "old.txt").read_text() == "old" and hidden(tmp_path) == []


def test_leftovers_of_a_killed_write_are_removed_and_nothing_else(tmp_path):
    target = tmp_path / "runs"
    leftover = tmp_path / ".runs.partial-k1ll3d_x"  # as tempfile.mkdtemp names them
    (leftover / "runs").mkdir(parents=True)
    (leftover / "runs.old").mkdir()
    kept = [tmp_path / ".runs.lock", tmp_path / ".runsx.partial-abcdefgh"]
    kept += [tmp_path / ".runs.partial-toolongname", tmp_path / ".runs.abcdefgh"]
    kept[0].write_text("")
    for folder in kept[1:]:
        folder.mkdir()
    with atomic_path(target) as temporary:
        temporary.write_text("whole")
    assert target.read_text() == "whole"
    assert hidden(tmp_path) == sorted(path.name for path in kept)


def test_the_temporary_folder_is_one_dvc_and_git_ignore(tmp_path):
    # a run killed during its final rename leaves it beside its output, inside a folder that a
    # stage depends on (models/D): DVC must not hash it, git must not list it
    with atomic_path(tmp_path / "main_table") as temporary:
        temporary.mkdir()
        name = temporary.parent.name  # .main_table.partial-xxxxxxxx
    inside = f"models/ml-100k/nmf/{name}/main_table/run.json"
    dvc = [sys.executable, "-m", "dvc", "check-ignore", inside]
    assert subprocess.run(dvc, cwd=ROOT, capture_output=True, text=True).stdout.strip() == inside
    git = ["git", "check-ignore", "--no-index", f"reports/ml-100k/{name}/tables/table3.md"]
    assert subprocess.run(git, cwd=ROOT, capture_output=True).returncode == 0
    assert subprocess.run(
        dvc[:-1] + ["models/ml-100k/nmf/main_table/run.json"], cwd=ROOT
    ).returncode


def full_disk(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize(
    "write",
    [
        lambda path: save_tensors({"w": torch.ones(3)}, path),  # torch.save through Python's write
        lambda path: pl.DataFrame({"a": [1]}).write_parquet(path),  # polars: the error's text only
    ],
)
def test_a_full_disk_is_one_line_naming_the_output_and_leaves_nothing(tmp_path, monkeypatch, write):
    out = tmp_path / "runs"
    monkeypatch.setattr(Path, "write_bytes", full_disk)
    monkeypatch.setattr(pl.DataFrame, "write_parquet", lambda *_: _polars_full())
    with pytest.raises(DivlibError, match=f"^{out}: not written, the disk is full .*run again$"):
        with atomic_path(out) as temporary:
            temporary.mkdir()
            write(temporary / "file")
    assert list(tmp_path.iterdir()) == []


def _polars_full():
    raise pl.exceptions.ComputeError(
        "parquet: File out of specification: underlying IO error: No space left on device "
        "(os error 28)"
    )
