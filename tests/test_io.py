"""Atomic outputs: a directory is swapped in whole, and an earlier interruption's leftovers are removed."""

import pytest

from divlib.io import atomic_path


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
    leftover = tmp_path / ".runs.k1ll3d_x"  # as tempfile.mkdtemp names them
    (leftover / "runs").mkdir(parents=True)
    (leftover / "runs.old").mkdir()
    kept = [tmp_path / ".runs.lock", tmp_path / ".runsx.abcdefgh", tmp_path / ".runs.toolongname"]
    kept[0].write_text("")
    for folder in kept[1:]:
        folder.mkdir()
    with atomic_path(target) as temporary:
        temporary.write_text("whole")
    assert target.read_text() == "whole"
    assert hidden(tmp_path) == sorted(path.name for path in kept)
