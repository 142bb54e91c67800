"""Files written so that an interrupted run never leaves a half-written artefact, and file digests."""

import errno
import hashlib
import io
import json
import os
import pickle
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from divlib.errors import DiskFull, DivlibError, UnreadableFile

TEMPORARY = "partial-"  # a hidden folder .NAME.partial-xxxxxxxx (.dvcignore and .gitignore skip it)
_SUFFIX = re.compile(TEMPORARY + r"[a-z0-9_]{8}")  # xxxxxxxx: the random part of tempfile.mkdtemp
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``, on error remove it.

    Works for files and for directories (the caller creates what it needs under the yielded path).
    The temporary lives in a hidden folder ``.NAME.partial-xxxxxxxx`` beside ``path``; an old
    directory is moved into it before the new one is renamed in, so ``path`` is missing only between
    two renames. Such folders left by an earlier process that was killed are removed first; until
    then the project's ``.dvcignore`` keeps them out of every hash DVC takes. A full disk (or quota)
    while writing is one :class:`~divlib.errors.DiskFull` line naming ``path`` (the outermost output
    when they nest); nothing of it is kept.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_leftovers(path)
        folder = tempfile.mkdtemp(prefix=f".{path.name}.{TEMPORARY}", dir=path.parent)
        temporary = Path(folder) / path.name
        try:
            yield temporary
            if path.is_dir() and not path.is_symlink():
                os.replace(path, temporary.with_name(f"{path.name}.old"))
            os.replace(temporary, path)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    except DiskFull as error:  # in a file of this output: name the output
        raise DiskFull(path, error.reason) from None
    except Exception as error:
        if isinstance(error, DivlibError) or not _disk_full(error):
            raise
        raise DiskFull(path, first_line(error)) from error


def _disk_full(error: Exception) -> bool:
    """No space left on the device, or over the quota: an OSError, or a message that says so (a
    writer in Rust, such as polars, reports the OS error only in its text)."""
    if isinstance(error, OSError) and error.errno in _DISK_FULL:
        return True
    return any(os.strerror(number) in str(error) for number in _DISK_FULL)


def first_line(error: Exception) -> str:
    """The first line of an error's message (its type's name if it has none)."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _remove_leftovers(path: Path) -> None:
    """Remove the hidden folders :func:`atomic_path` made beside ``path`` in a process that was killed."""
    prefix = f".{path.name}."
    for entry in path.parent.iterdir():
        name = entry.name
        if name.startswith(prefix) and _SUFFIX.fullmatch(name[len(prefix) :]) and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)


def load_tensors(path: str | Path, what: str, device: torch.device | str = "cpu") -> dict:
    """The dict :func:`save_tensors` wrote to ``path`` (tensors only: ``weights_only``), on
    ``device``; a file that is there but cannot be read is an :class:`UnreadableFile` saying it is
    not a divlib ``what`` (a missing file stays a FileNotFoundError)."""
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise
    except pickle.UnpicklingError:  # torch's message advises weights_only=False: never for data
        raise UnreadableFile(path, f"not a divlib {what} (data torch.load cannot read)") from None
    except (OSError, RuntimeError, EOFError) as error:
        reason = first_line(error).split(". ", 1)[0]  # torch goes on about likely causes
        raise UnreadableFile(path, f"not a divlib {what} ({reason})") from None
    if not isinstance(payload, dict):
        raise UnreadableFile(path, f"not a divlib {what} (holds a {type(payload).__name__})")
    return payload


def save_tensors(payload: dict, path: str | Path) -> None:
    """``torch.save(payload)`` to ``path``, atomically; serialised in memory first, so that a write
    that fails (a full disk) raises the OS's error rather than torch's "unexpected pos"."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with atomic_path(path) as temporary:
        temporary.write_bytes(buffer.getbuffer())


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
