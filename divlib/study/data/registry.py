"""The datasets divlib knows: where each one's raw files come from, their pinned digests, and its parser.

``fetch_raw`` puts verified raw files in a dataset's raw folder (a pinned file that cannot be downloaded
is taken from the dataset's manual folder, where the user places it); ``parse_raw`` checks the files it
reads against their digests again and reads them into :class:`~divlib.study.data.parsers.RawTables`, each
value checked (:func:`~divlib.study.data.parsers.check_table`).

Digests were checked here where the file could be fetched (recbole wheel and its two files: sha256
computed on 2026-11-22); the others are the values published by several independent projects
(ml-100k/ml-1m md5 as pinned by LensKit's DVC projects; KuaiRec md5 from its Zenodo record 18164998 as
quoted by two projects; Coat sha256 from one public manifest) and could not be downloaded from this
machine.
"""

import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from divlib.errors import DivlibError
from divlib.io import atomic_path, file_digest, write_json
from divlib.study.data import handplaced, parsers
from divlib.study.data.parsers import Conventions, RawTables, check_table
from divlib.study.data.sources import (
    PinnedFile,
    check_digest,
    fetch_from_wheel,
    fetch_url,
    require_files,
)
from divlib.study.data.synthetic import synthetic_ratings
from divlib.study.layout import HERE, Layout

log = logging.getLogger(__name__)

RECBOLE_WHEEL = PinnedFile(
    "recbole-1.2.1-py3-none-any.whl",
    "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407",
)
RECBOLE_ML100K = {
    "recbole/dataset_example/ml-100k/ml-100k.inter": PinnedFile(
        "ml-100k.inter", "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff"
    ),
    "recbole/dataset_example/ml-100k/ml-100k.item": PinnedFile(
        "ml-100k.item", "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532"
    ),
}
GROUPLENS = "https://files.grouplens.org/datasets/movielens/"
ML100K_ZIP = PinnedFile("ml-100k.zip", "0e33842e24a9c977be4e0107933c0723", "md5")
ML1M_ZIP = PinnedFile("ml-1m.zip", "c4d9eecfca2ab87c1945afe126590906", "md5")
COAT_URL = "https://www.cs.cornell.edu/~schnabts/mnar/coat.zip"
COAT_ZIP = PinnedFile(
    "coat.zip", "6073d0b515ed1f6e830e4fead66dc76ad7991a7553eaa58e228b234a9d19daed"
)
KUAIREC_URL = "https://zenodo.org/records/18164998/files/KuaiRec.zip"
KUAIREC_ZIP = PinnedFile("KuaiRec.zip", "261550d472c48eff4990fb13c0e5bcf7", "md5")
NETFLIX_FILES = ["Netflix_Dataset_Movie.csv", "Netflix_Dataset_Rating.csv"]
YAHOO_FILES = ["train_0.txt", "song-attributes.txt"]
SYNTHETIC_FILES = ["ratings.parquet", "items.parquet"]
SYNTHETIC = Conventions("the synthetic generator", 1, 5, first_id=0)


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset: its sources (the first is the default) and how to fetch and parse each.

    ``reads`` lists, per source, the raw files ``parse`` reads (in the order it takes them): a
    :class:`PinnedFile` where a digest is published, else a name, checked against the digest the
    download recorded. ``hand_placed``: the user puts the raw files in the manual folder.
    """

    name: str
    description: str
    sources: tuple[str, ...]
    fetch: Callable[[str, Path, Path, dict], dict[str, str]]
    parse: Callable[[str, list[Path], dict], tuple[RawTables, dict]]
    reads: dict[str, tuple[PinnedFile | str, ...]]
    options: tuple[str, ...] = field(default=())  # the keyword options it reads
    hand_placed: bool = False


def dataset_spec(name: str) -> DatasetSpec:
    """The spec of ``name``; unknown names fail with the list of known ones."""
    if name not in DATASETS:
        raise DivlibError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    return DATASETS[name]


def fetch_raw(
    name: str, *, source: str, raw_dir: Path, manual_dir: Path, options: dict
) -> dict[str, str]:
    """Put the verified raw files of ``name`` in ``raw_dir``; returns file name → digest."""
    spec = dataset_spec(name)
    _check_source(spec, source)
    raw_dir.mkdir(parents=True, exist_ok=True)
    return spec.fetch(source, raw_dir, manual_dir, _options(spec, options))


def parse_raw(
    name: str, *, source: str, raw_dir: Path, manual_dir: Path, options: dict
) -> tuple[RawTables, dict]:
    """Read the raw files of ``name`` into raw tables; also returns a report for meta.json, whose
    ``raw_files`` are the files read (name → bytes and digest, as read).

    Each file is checked against its pinned digest (or the one the download recorded) first; a bad
    value is reported with its file and line, and how to fetch the file again (``manual_dir`` holds a
    hand-placed dataset's originals).
    """
    spec = dataset_spec(name)
    _check_source(spec, source)
    options = _options(spec, options)
    refetch = f"dvc repro -f download@{name}"
    read = _verify_raw(spec, source, raw_dir, refetch)
    if spec.hand_placed:
        fix = f"correct it in {manual_dir}/ ({raw_dir}/ holds a copy) and copy it again: {refetch}"
    else:
        fix = f"the file is not the published release; re-download it ({refetch})"
    try:
        raw, report = spec.parse(source, [raw_dir / file for file in read], options)
    except DivlibError as error:
        raise DivlibError(f"{error}; {fix}") from None
    return raw, report | {"raw_files": read}


def _verify_raw(spec: DatasetSpec, source: str, raw_dir: Path, refetch: str) -> dict[str, dict]:
    """Check the files ``spec`` reads from ``raw_dir`` against their digests: name → bytes, digest.
    ``refetch`` is the command that fetches them again."""
    record = raw_dir / "digests.json"
    try:
        recorded = json.loads(record.read_text())
        origin, files = recorded["source"], dict(recorded["files"])
    except FileNotFoundError:
        raise DivlibError(f"{record} is missing; download the dataset first ({refetch})") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DivlibError(f"{record} cannot be read ({error!r}); re-download ({refetch})") from None
    if origin != source:
        raise DivlibError(
            f"{raw_dir} was downloaded from source {origin!r} but data.sources.{spec.name} is "
            f"{source!r}; download it again ({refetch})"
        )
    fix = f"the file changed after download (cut short or edited?); re-download it ({refetch})"
    read = {}
    for entry in spec.reads[source]:
        pinned = (
            entry if isinstance(entry, PinnedFile) else PinnedFile(entry, files.get(entry, "?"))
        )
        path = raw_dir / pinned.name
        if not path.is_file():
            raise DivlibError(f"{path} is missing; re-download it ({refetch})")
        digest = check_digest(path, pinned, fix)
        read[pinned.name] = {"bytes": path.stat().st_size, pinned.algorithm: digest}
    return read


def _fetch_ml100k(source: str, raw_dir: Path, manual_dir: Path, options: dict) -> dict[str, str]:
    if source == "package-mirror":
        return fetch_from_wheel(
            "recbole==1.2.1", RECBOLE_WHEEL, RECBOLE_ML100K, raw_dir, manual_dir=manual_dir
        )
    destination = raw_dir / ML100K_ZIP.name
    url = GROUPLENS + ML100K_ZIP.name
    return {ML100K_ZIP.name: fetch_url(url, destination, ML100K_ZIP, manual_dir=manual_dir)}


def _parse_ml100k(source: str, files: list[Path], options: dict) -> tuple[RawTables, dict]:
    if source == "package-mirror":
        return parsers.parse_ml100k_recbole(*files), {}
    return parsers.parse_ml100k_grouplens(*files), {}


def _url_fetcher(url: str, pinned: PinnedFile):
    def fetch(source: str, raw_dir: Path, manual_dir: Path, options: dict) -> dict[str, str]:
        return {pinned.name: fetch_url(url, raw_dir / pinned.name, pinned, manual_dir=manual_dir)}

    return fetch


def _archive_parser(parse: Callable[[Path], RawTables]):
    def parse_archive(source: str, files: list[Path], options: dict) -> tuple[RawTables, dict]:
        return parse(*files), {}

    return parse_archive


def _copy_manual(
    files: list[str], instructions: str, manual_dir: Path, raw_dir: Path
) -> dict[str, str]:
    """Copy hand-placed files (no published digest exists) into ``raw_dir``; record their sha256."""
    require_files(manual_dir, files, instructions)
    digests = {}
    for file in files:
        with atomic_path(raw_dir / file) as temporary:
            shutil.copyfile(manual_dir / file, temporary)
        digests[file] = file_digest(raw_dir / file)
    return digests


def _fetch_netflix(source: str, raw_dir: Path, manual_dir: Path, options: dict) -> dict[str, str]:
    instructions = (
        f"Netflix needs a Kaggle account: download rishitjavia/netflix-movie-rating-dataset from "
        f"https://www.kaggle.com/datasets/rishitjavia/netflix-movie-rating-dataset, unzip it, and put "
        f"{' and '.join(NETFLIX_FILES)} in {manual_dir}/"
    )
    digests = _copy_manual(NETFLIX_FILES, instructions, manual_dir, raw_dir)
    url = GROUPLENS + ML1M_ZIP.name  # the genres are matched from MovieLens-1M titles
    movielens = fetch_url(url, raw_dir / ML1M_ZIP.name, ML1M_ZIP, manual_dir=manual_dir)
    return digests | {ML1M_ZIP.name: movielens}


def _parse_netflix(source: str, files: list[Path], options: dict) -> tuple[RawTables, dict]:
    return handplaced.parse_netflix(*files, **options)


def _fetch_yahoo(source: str, raw_dir: Path, manual_dir: Path, options: dict) -> dict[str, str]:
    instructions = (
        "Yahoo-R2 is licensed through Yahoo! Webscope (dataset R2, 'Yahoo! Music user ratings of "
        "songs with artist, album, and genre meta information', https://webscope.sandbox.yahoo.com): "
        f"after approval, extract {' and '.join(YAHOO_FILES)} into {manual_dir}/"
    )
    return _copy_manual(YAHOO_FILES, instructions, manual_dir, raw_dir)


def _parse_yahoo(source: str, files: list[Path], options: dict) -> tuple[RawTables, dict]:
    return handplaced.parse_yahoo_r2(*files, **options)


def _fetch_synthetic(source: str, raw_dir: Path, manual_dir: Path, options: dict) -> dict[str, str]:
    tables = synthetic_ratings(**options)
    digests = {}
    for name, frame in zip(SYNTHETIC_FILES, tables, strict=True):
        with atomic_path(raw_dir / name) as temporary:
            frame.write_parquet(temporary)
        digests[name] = file_digest(raw_dir / name)
    return digests


def _parse_synthetic(source: str, files: list[Path], options: dict) -> tuple[RawTables, dict]:
    tables = []
    for path in files:
        try:
            table = pl.read_parquet(path)
        except (OSError, pl.exceptions.PolarsError) as error:
            problem = str(error).splitlines()[0]
            raise DivlibError(f"{path} is not a readable parquet file ({problem})") from None
        numbered = table.with_row_index("line", offset=1)
        check_table(numbered, source=str(path), rules=SYNTHETIC, unit="row")
        tables.append(table)
    return RawTables(*tables), {}


def _check_source(spec: DatasetSpec, source: str) -> None:
    if source not in spec.sources:
        raise DivlibError(
            f"data.sources.{spec.name} is {source!r}; {spec.name} has sources: {', '.join(spec.sources)}"
        )


def _options(spec: DatasetSpec, options: dict) -> dict:
    unknown = sorted(set(options) - set(spec.options))
    missing = sorted(set(spec.options) - set(options))
    if unknown or missing:
        raise DivlibError(
            f"options for {spec.name}: unknown {unknown}, missing {missing}; {spec.name} takes "
            f"{list(spec.options)} (params.yaml, data.{spec.name})"
        )
    return options


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "ml-100k",
            "MovieLens-100K: 943 users, 1,682 movies, 100,000 ratings, 19 genres",
            ("package-mirror", "grouplens"),
            _fetch_ml100k,
            _parse_ml100k,
            {"package-mirror": tuple(RECBOLE_ML100K.values()), "grouplens": (ML100K_ZIP,)},
        ),
        DatasetSpec(
            "ml-1m",
            "MovieLens-1M: 6,040 users, 3,706 rated movies, 1,000,209 ratings, 18 genres",
            ("grouplens",),
            _url_fetcher(GROUPLENS + ML1M_ZIP.name, ML1M_ZIP),
            _archive_parser(parsers.parse_ml1m),
            {"grouplens": (ML1M_ZIP,)},
        ),
        DatasetSpec(
            "coat",
            "Coat (Schnabel et al. 2016): 290 users, 300 items, 33 item attributes",
            ("cornell",),
            _url_fetcher(COAT_URL, COAT_ZIP),
            _archive_parser(parsers.parse_coat),
            {"cornell": (COAT_ZIP,)},
        ),
        DatasetSpec(
            "kuairec",
            "KuaiRec 2.0 small matrix: 1,411 users × 3,327 videos, fully observed",
            ("zenodo",),
            _url_fetcher(KUAIREC_URL, KUAIREC_ZIP),
            _archive_parser(parsers.parse_kuairec),
            {"zenodo": (KUAIREC_ZIP,)},
        ),
        DatasetSpec(
            "netflix",
            "Netflix (Kaggle subset), genres matched from MovieLens-1M, 5,000 sampled users",
            ("kaggle",),
            _fetch_netflix,
            _parse_netflix,
            {"kaggle": (*NETFLIX_FILES, ML1M_ZIP)},
            ("users", "min_ratings", "seed"),
            hand_placed=True,
        ),
        DatasetSpec(
            "yahoo-r2",
            "Yahoo! Music R2 (Webscope), 5,000 sampled songs, users with 100+ ratings",
            ("webscope",),
            _fetch_yahoo,
            _parse_yahoo,
            {"webscope": tuple(YAHOO_FILES)},
            ("items", "min_ratings", "seed"),
            hand_placed=True,
        ),
        DatasetSpec(
            "synthetic",
            "Seeded synthetic ratings with category structure and popularity skew",
            ("generator",),
            _fetch_synthetic,
            _parse_synthetic,
            {"generator": tuple(SYNTHETIC_FILES)},
            ("users", "items", "ratings", "categories", "seed"),
        ),
    )
}


def download_raw(dataset: str, *, source: str, options: dict, layout: Layout = HERE) -> None:
    """The ``download`` stage: fetch the raw files of ``dataset`` from ``source`` (:func:`fetch_raw`;
    a file that cannot be downloaded is taken from ``data/manual/D/`` once the user puts it there)
    and write them to ``data/raw/D/`` (all or nothing) with ``digests.json``."""
    start = time.perf_counter()
    with atomic_path(layout.raw(dataset)) as raw_dir:
        log.info("fetching %s from %s", dataset, source)
        digests = fetch_raw(
            dataset,
            source=source,
            raw_dir=raw_dir,
            manual_dir=layout.manual(dataset),
            options=options,
        )
        write_json(
            {"dataset": dataset, "source": source, "files": digests}, raw_dir / "digests.json"
        )
    log.info("%s: %d verified files in %.1f s", dataset, len(digests), time.perf_counter() - start)
