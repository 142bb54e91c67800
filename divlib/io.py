"""Files written so that an interrupted run never leaves a half-written artefact, and file digests."""

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_SUFFIX = re.compile(r"[a-z0-9_]{8}")  # the random part of a name made by tempfile.mkdtemp


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``, on error remove it.

    Works for files and for directories (the caller creates what it needs under the yielded path).
    The temporary lives in a hidden folder ``.NAME.xxxxxxxx`` beside ``path``; an old directory is
    moved into it before the new one is renamed in, so ``path`` is missing only between two renames.
    Such folders left by an earlier process that was killed are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(path)
    temporary = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent)) / path.name
    try:
        yield temporary
        if path.is_dir() and not path.is_symlink():
            os.replace(path, temporary.with_name(f"{path.name}.old"))
        os.replace(temporary, path)
    finally:
        shutil.rmtree(temporary.parent, ignore_errors=True)


def _remove_leftovers(path: Path) -> None:
    """Remove the hidden folders :func:`atomic_path` made beside ``path`` in a process that was killed."""
    prefix = f".{path.name}."
    for entry in path.parent.iterdir():
        name = entry.name
        if name.startswith(prefix) and _SUFFIX.fullmatch(name[len(prefix) :]) and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)


def write_json(data: dict, path: str | Path) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
