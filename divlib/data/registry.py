"""The datasets divlib knows: where each one's raw files come from, their pinned digests, and its parser.

``fetch_raw`` puts verified raw files in a dataset's raw folder; ``parse_raw`` reads them into
:class:`~divlib.data.parsers.RawTables`. Digests were checked here where the file could be fetched
(recbole wheel and its two files: sha256 computed on 2026-11-22); the others are the values published
by several independent projects (ml-100k/ml-1m md5 as pinned by LensKit's DVC projects; KuaiRec md5 from
its Zenodo record 18164998 as quoted by two projects; Coat sha256 from one public manifest) and could not
be downloaded from this machine.
"""

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from divlib.data import handplaced, parsers
from divlib.data.parsers import RawTables
from divlib.data.sources import PinnedFile, fetch_from_wheel, fetch_url, require_files
from divlib.data.synthetic import synthetic_ratings
from divlib.errors import DivlibError
from divlib.io import atomic_path, file_digest

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


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset: its sources (the first is the default) and how to fetch and parse each."""

    name: str
    description: str
    sources: tuple[str, ...]
    fetch: Callable[[str, Path, Path, dict], dict[str, str]]
    parse: Callable[[str, Path, dict], tuple[RawTables, dict]]
    options: tuple[str, ...] = field(default=())  # the keyword options it reads


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


def parse_raw(name: str, *, source: str, raw_dir: Path, options: dict) -> tuple[RawTables, dict]:
    """Read the raw files of ``name`` into raw tables; also returns a report for meta.json."""
    spec = dataset_spec(name)
    _check_source(spec, source)
    return spec.parse(source, raw_dir, _options(spec, options))


def _fetch_ml100k(source: str, raw_dir: Path, manual_dir: Path, options: dict) -> dict[str, str]:
    if source == "package-mirror":
        return fetch_from_wheel("recbole==1.2.1", RECBOLE_WHEEL, RECBOLE_ML100K, raw_dir)
    return {
        ML100K_ZIP.name: fetch_url(GROUPLENS + "ml-100k.zip", raw_dir / "ml-100k.zip", ML100K_ZIP)
    }


def _parse_ml100k(source: str, raw_dir: Path, options: dict) -> tuple[RawTables, dict]:
    if source == "package-mirror":
        return parsers.parse_ml100k_recbole(raw_dir / "ml-100k.inter", raw_dir / "ml-100k.item"), {}
    return parsers.parse_ml100k_grouplens(raw_dir / "ml-100k.zip"), {}


def _url_fetcher(url: str, pinned: PinnedFile):
    def fetch(source: str, raw_dir: Path, manual_dir: Path, options: dict) -> dict[str, str]:
        return {pinned.name: fetch_url(url, raw_dir / pinned.name, pinned)}

    return fetch


def _archive_parser(parse: Callable[[Path], RawTables], pinned: PinnedFile):
    def parse_archive(source: str, raw_dir: Path, options: dict) -> tuple[RawTables, dict]:
        return parse(raw_dir / pinned.name), {}

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
    url = GROUPLENS + "ml-1m.zip"  # the genres are matched from MovieLens-1M titles
    return digests | {ML1M_ZIP.name: fetch_url(url, raw_dir / ML1M_ZIP.name, ML1M_ZIP)}


def _parse_netflix(source: str, raw_dir: Path, options: dict) -> tuple[RawTables, dict]:
    movies, ratings = (raw_dir / name for name in NETFLIX_FILES)
    return handplaced.parse_netflix(movies, ratings, raw_dir / ML1M_ZIP.name, **options)


def _fetch_yahoo(source: str, raw_dir: Path, manual_dir: Path, options: dict) -> dict[str, str]:
    instructions = (
        "Yahoo-R2 is licensed through Yahoo! Webscope (dataset R2, 'Yahoo! Music user ratings of "
        "songs with artist, album, and genre meta information', https://webscope.sandbox.yahoo.com): "
        f"after approval, extract {' and '.join(YAHOO_FILES)} into {manual_dir}/"
    )
    return _copy_manual(YAHOO_FILES, instructions, manual_dir, raw_dir)


def _parse_yahoo(source: str, raw_dir: Path, options: dict) -> tuple[RawTables, dict]:
    train, attributes = (raw_dir / name for name in YAHOO_FILES)
    return handplaced.parse_yahoo_r2(train, attributes, **options)


def _fetch_synthetic(source: str, raw_dir: Path, manual_dir: Path, options: dict) -> dict[str, str]:
    tables = synthetic_ratings(**options)
    digests = {}
    for name, frame in (("ratings.parquet", tables.ratings), ("items.parquet", tables.items)):
        with atomic_path(raw_dir / name) as temporary:
            frame.write_parquet(temporary)
        digests[name] = file_digest(raw_dir / name)
    return digests


def _parse_synthetic(source: str, raw_dir: Path, options: dict) -> tuple[RawTables, dict]:
    ratings = pl.read_parquet(raw_dir / "ratings.parquet")
    return RawTables(ratings, pl.read_parquet(raw_dir / "items.parquet")), {}


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
        ),
        DatasetSpec(
            "ml-1m",
            "MovieLens-1M: 6,040 users, 3,706 rated movies, 1,000,209 ratings, 18 genres",
            ("grouplens",),
            _url_fetcher(GROUPLENS + "ml-1m.zip", ML1M_ZIP),
            _archive_parser(parsers.parse_ml1m, ML1M_ZIP),
        ),
        DatasetSpec(
            "coat",
            "Coat (Schnabel et al. 2016): 290 users, 300 items, 33 item attributes",
            ("cornell",),
            _url_fetcher(COAT_URL, COAT_ZIP),
            _archive_parser(parsers.parse_coat, COAT_ZIP),
        ),
        DatasetSpec(
            "kuairec",
            "KuaiRec 2.0 small matrix: 1,411 users × 3,327 videos, fully observed",
            ("zenodo",),
            _url_fetcher(KUAIREC_URL, KUAIREC_ZIP),
            _archive_parser(parsers.parse_kuairec, KUAIREC_ZIP),
        ),
        DatasetSpec(
            "netflix",
            "Netflix (Kaggle subset), genres matched from MovieLens-1M, 5,000 sampled users",
            ("kaggle",),
            _fetch_netflix,
            _parse_netflix,
            ("users", "min_ratings", "seed"),
        ),
        DatasetSpec(
            "yahoo-r2",
            "Yahoo! Music R2 (Webscope), 5,000 sampled songs, users with 100+ ratings",
            ("webscope",),
            _fetch_yahoo,
            _parse_yahoo,
            ("items", "min_ratings", "seed"),
        ),
        DatasetSpec(
            "synthetic",
            "Seeded synthetic ratings with category structure and popularity skew",
            ("generator",),
            _fetch_synthetic,
            _parse_synthetic,
            ("users", "items", "ratings", "categories", "seed"),
        ),
    )
}
