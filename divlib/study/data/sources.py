"""Where raw files come from, and the checks that they are the files we pinned.

Three kinds of source: a URL (``fetch_url``), a file inside a wheel on the package index
(``fetch_from_wheel``, never installed), and files the user places by hand (``require_files``).
Every file is checked against a pinned digest; a mismatch removes the file and names both digests.
A pinned file the user placed in the dataset's manual folder (because the download cannot be made) is
used instead of downloading, once it matches its pinned digest; a wrong one is refused and kept.
"""

import logging
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from divlib.errors import DivlibError
from divlib.io import atomic_path, file_digest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PinnedFile:
    """A raw file and its expected digest (``algorithm`` is "sha256" or "md5")."""

    name: str
    digest: str
    algorithm: str = "sha256"


def check_digest(path: Path, pinned: PinnedFile, fix: str, *, shown: Path | None = None) -> str:
    """The digest of ``path``; raises, naming ``shown`` (default ``path``), both digests and ``fix``,
    unless it is the pinned one."""
    actual = file_digest(path, pinned.algorithm)
    if actual != pinned.digest:
        raise DivlibError(
            f"{shown or path}: {pinned.algorithm} is {actual} but {pinned.digest} was expected; {fix}"
        )
    return actual


def verify_file(path: Path, pinned: PinnedFile) -> str:
    """Check ``path`` against its pinned digest; on mismatch remove it and raise. Returns the digest."""
    fix = (
        "the file was removed. Run the download again; if it keeps failing the source has changed."
    )
    try:
        return check_digest(path, pinned, fix)
    except DivlibError:
        path.unlink(missing_ok=True)
        raise


def fetch_url(url: str, destination: Path, pinned: PinnedFile, *, manual_dir: Path) -> str:
    """Download ``url`` to ``destination`` (atomically, with a progress bar) and verify it.

    A verified file already in place is kept; a copy placed by hand in ``manual_dir`` is used instead
    of the network, and the error of a failed download names that place. Returns the digest.
    """
    if destination.exists() and file_digest(destination, pinned.algorithm) == pinned.digest:
        return pinned.digest
    placed = manual_dir / pinned.name
    if placed.is_file():
        return copy_placed(placed, destination, pinned, origin=url)
    with atomic_path(destination) as temporary:
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(temporary, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc=pinned.name) as bar:
                    for block in iter(lambda: response.read(1 << 20), b""):
                        out.write(block)
                        bar.update(len(block))
        except OSError as error:
            raise DivlibError(
                f"could not download {url} ({error}); check the network, or download that file by "
                f"hand, put it at {placed} and run the download again"
            ) from None
        verify_file(temporary, pinned)
    return pinned.digest


def copy_placed(placed: Path, destination: Path, pinned: PinnedFile, *, origin: str) -> str:
    """Copy the hand-placed ``placed`` to ``destination`` if it is the pinned file from ``origin``;
    else raise (the placed file is kept). Returns the digest."""
    log.info("using %s, placed by hand", placed)
    fix = f"it is not the file from {origin}: replace it with that file, or remove it to download"
    with atomic_path(destination) as temporary:
        shutil.copyfile(placed, temporary)
        return check_digest(temporary, pinned, fix, shown=placed)


def fetch_from_wheel(
    requirement: str,
    wheel: PinnedFile,
    members: dict[str, PinnedFile],
    destination: Path,
    *,
    manual_dir: Path,
) -> dict[str, str]:
    """Download a wheel with ``pip download --no-deps`` (never installed), verify it, extract members.

    Args:
        requirement: e.g. ``"recbole==1.2.1"``.
        wheel: the wheel's file name and pinned digest; a copy placed by hand in ``manual_dir`` is used
            instead of the package index.
        members: archive path → pinned file written as ``destination / pinned.name``.

    Returns:
        file name → digest, for the wheel and every extracted file.
    """
    destination.mkdir(parents=True, exist_ok=True)
    placed = manual_dir / wheel.name
    project, version = requirement.split("==")
    page = f"https://pypi.org/project/{project}/{version}/#files"
    with tempfile.TemporaryDirectory() as cache:
        wheel_path = Path(cache) / wheel.name
        if placed.is_file():
            digests = {wheel.name: copy_placed(placed, wheel_path, wheel, origin=page)}
        else:
            command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", cache]
            result = subprocess.run([*command, requirement], capture_output=True, text=True)
            if result.returncode != 0 or not wheel_path.exists():
                problem = ([""] + result.stderr.strip().splitlines())[-1]
                raise DivlibError(
                    f"pip could not download {requirement} ({problem}); check access to the "
                    f"package index, or download {wheel.name} from {page} by hand, put it at "
                    f"{placed} and run the download again"
                )
            digests = {wheel.name: verify_file(wheel_path, wheel)}
        with zipfile.ZipFile(wheel_path) as archive:
            for member, pinned in members.items():
                with atomic_path(destination / pinned.name) as temporary:
                    temporary.write_bytes(archive.read(member))
                    digests[pinned.name] = verify_file(temporary, pinned)
    return digests


def require_files(directory: Path, names: list[str], instructions: str) -> None:
    """Raise, naming every missing file, if any of ``names`` is not in ``directory``."""
    missing = [str(directory / name) for name in names if not (directory / name).is_file()]
    if missing:
        raise DivlibError(f"missing raw file(s) {', '.join(missing)}: {instructions}")
