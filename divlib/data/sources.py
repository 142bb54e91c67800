"""Where raw files come from, and the checks that they are the files we pinned.

Three kinds of source: a URL (``fetch_url``), a file inside a wheel on the package index
(``fetch_from_wheel``, never installed), and files the user places by hand (``require_files``).
Every file is checked against a pinned digest; a mismatch removes the file and names both digests.
"""

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


@dataclass(frozen=True)
class PinnedFile:
    """A raw file and its expected digest (``algorithm`` is "sha256" or "md5")."""

    name: str
    digest: str
    algorithm: str = "sha256"


def verify_file(path: Path, pinned: PinnedFile) -> str:
    """Check ``path`` against its pinned digest; on mismatch remove it and raise. Returns the digest."""
    actual = file_digest(path, pinned.algorithm)
    if actual != pinned.digest:
        path.unlink(missing_ok=True)
        raise DivlibError(
            f"{path}: {pinned.algorithm} is {actual} but {pinned.digest} was expected; the file "
            "was removed. Run the download again; if it keeps failing the source has changed."
        )
    return actual


def fetch_url(url: str, destination: Path, pinned: PinnedFile) -> str:
    """Download ``url`` to ``destination`` (atomically, with a progress bar) and verify it.

    A verified file already in place is kept. Returns its digest.
    """
    if destination.exists() and file_digest(destination, pinned.algorithm) == pinned.digest:
        return pinned.digest
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
                f"could not download {url} ({error}); check the network, or download it by hand "
                f"and place it at {destination}"
            ) from error
        verify_file(temporary, pinned)
    return pinned.digest


def fetch_from_wheel(
    requirement: str, wheel: PinnedFile, members: dict[str, PinnedFile], destination: Path
) -> dict[str, str]:
    """Download a wheel with ``pip download --no-deps`` (never installed), verify it, extract members.

    Args:
        requirement: e.g. ``"recbole==1.2.1"``.
        wheel: the wheel's file name and pinned digest.
        members: archive path → pinned file written as ``destination / pinned.name``.

    Returns:
        file name → digest, for the wheel and every extracted file.
    """
    destination.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as cache:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", cache]
        result = subprocess.run([*command, requirement], capture_output=True, text=True)
        wheel_path = Path(cache) / wheel.name
        if result.returncode != 0 or not wheel_path.exists():
            raise DivlibError(
                f"pip could not download {requirement} ({result.stderr.strip()[-300:]}); check "
                "access to the package index"
            )
        digests = {wheel.name: verify_file(wheel_path, wheel)}
        with zipfile.ZipFile(wheel_path) as archive:
            for member, pinned in members.items():
                with atomic_path(destination / pinned.name) as temporary:
                    temporary.write_bytes(archive.read(member))
                    digests[pinned.name] = verify_file(temporary, pinned)
    return digests


def require_files(directory: Path, names: list[str], instructions: str) -> None:
    """Raise, listing every missing file, if any of ``names`` is not in ``directory``."""
    missing = [name for name in names if not (directory / name).is_file()]
    if missing:
        listing = "\n".join(f"  {directory / name}" for name in missing)
        raise DivlibError(f"missing raw files:\n{listing}\n{instructions}")
