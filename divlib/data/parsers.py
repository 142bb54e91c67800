"""Parsers from each dataset's raw files to raw tables with the original ids.

Every parser returns :class:`RawTables`:

* ``ratings``: ``user``, ``item`` (original ids: str, or integers), ``rating`` (float32), ``timestamp``
  (int64, may be null);
* ``items``: ``item`` (same dtype as in ``ratings``), ``title`` (str, may be null), ``categories``
  (list of str).

Text files are read line by line into polars and split there, so a malformed line is reported with its
file and line number (:func:`read_fields`). Preprocessing follows ``shared/notes/paper.md`` §1.3.
"""

import io
import re
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl

from divlib.errors import DivlibError


class RawTables(NamedTuple):
    ratings: pl.DataFrame
    items: pl.DataFrame


ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
    "War", "Western",
)  # fmt: skip


def read_fields(
    data: bytes,
    *,
    source: str,
    separator: str,
    columns: dict[str, pl.DataType],
    skip_lines: int = 0,
    encoding: str = "utf-8",
) -> pl.DataFrame:
    """Split the lines of a delimited text file into typed columns, naming the first bad line.

    Args:
        data: the file's bytes; ``source`` names it in errors ("ml-1m.zip:ml-1m/ratings.dat").
        separator: field separator, any length (ML-1M uses "::").
        columns: name → dtype, in file order; every line must have exactly this many fields.
        skip_lines: header lines to skip. Empty lines are ignored.
    """
    lines = pl.Series("line", data.decode(encoding).splitlines()[skip_lines:], dtype=pl.String)
    frame = pl.DataFrame({"line": lines, "number": pl.int_range(1, len(lines) + 1, eager=True)})
    frame = frame.with_columns(pl.col("number") + skip_lines).filter(
        pl.col("line").str.len_bytes() > 0
    )
    fields = frame.with_columns(pl.col("line").str.split(separator).alias("fields"))
    wrong = fields.filter(pl.col("fields").list.len() != len(columns))
    if len(wrong):
        _malformed(source, wrong.row(0, named=True), f"expected {len(columns)} fields")
    parsed = fields.select(
        "number",
        "line",
        *(
            pl.col("fields").list.get(i).str.strip_chars().alias(name)
            for i, name in enumerate(columns)
        ),
    )
    typed = parsed.with_columns(
        pl.col(name).cast(dtype, strict=False).alias(f"_{name}")
        for name, dtype in columns.items()
        if dtype != pl.String
    )
    for name, dtype in columns.items():
        if dtype == pl.String:
            continue
        bad = typed.filter(pl.col(f"_{name}").is_null() & (pl.col(name) != ""))
        if len(bad):
            _malformed(source, bad.row(0, named=True), f"field {name!r} is not a {dtype}")
    return typed.select(
        pl.col(f"_{name}").alias(name) if dtype != pl.String else pl.col(name)
        for name, dtype in columns.items()
    )


def parse_ml100k_recbole(inter: Path, item: Path) -> RawTables:
    """``ml-100k.inter`` and ``ml-100k.item`` as shipped in the recbole 1.2.1 wheel.

    Titles are rebuilt in the GroupLens form "Title (year)" so both sources give the same table; recbole's
    typo "unkonwn" (item 267) is read as "unknown".
    """
    ratings = read_fields(
        inter.read_bytes(),
        source=str(inter),
        separator="\t",
        columns={
            "user": pl.String,
            "item": pl.String,
            "rating": pl.Float32,
            "timestamp": pl.Float64,
        },
        skip_lines=1,
    )
    items = read_fields(
        item.read_bytes(),
        source=str(item),
        separator="\t",
        columns={"item": pl.String, "title": pl.String, "year": pl.String, "genres": pl.String},
        skip_lines=1,
    )
    items = items.with_columns(
        pl.col("title").replace("unkonwn", "unknown"), pl.col("year").replace("unkonwn", "")
    ).select(
        "item",
        pl.when(pl.col("year") == "")
        .then(pl.col("title"))
        .otherwise(pl.format("{} ({})", "title", "year"))
        .alias("title"),
        pl.col("genres").str.split(" ").alias("categories"),
    )
    return RawTables(_ratings(ratings), items)


def parse_ml100k_grouplens(archive: Path) -> RawTables:
    """``ml-100k.zip`` from GroupLens: ``u.data`` (tab-separated) and ``u.item`` (pipe-separated, latin-1,
    19 genre flags in the order of ``u.genre``)."""
    with zipfile.ZipFile(archive) as zipped:
        data = zipped.read("ml-100k/u.data")
        item_data = zipped.read("ml-100k/u.item")
    columns = {"user": pl.String, "item": pl.String, "rating": pl.Float32, "timestamp": pl.Int64}
    ratings = read_fields(data, source=f"{archive}:ml-100k/u.data", separator="\t", columns=columns)
    item_columns = {"item": pl.String, "title": pl.String, "date": pl.String, "video": pl.String}
    item_columns |= {"url": pl.String} | {f"g{i}": pl.Int8 for i in range(len(ML100K_GENRES))}
    items = read_fields(
        item_data,
        source=f"{archive}:ml-100k/u.item",
        separator="|",
        columns=item_columns,
        encoding="latin-1",
    )
    flags = pl.concat_list(
        pl.when(pl.col(f"g{i}") == 1).then(pl.lit(name)) for i, name in enumerate(ML100K_GENRES)
    ).list.drop_nulls()
    return RawTables(_ratings(ratings), items.select("item", "title", flags.alias("categories")))


def parse_ml1m(archive: Path) -> RawTables:
    """``ml-1m.zip``: ``ratings.dat`` and ``movies.dat`` ("::"-separated, latin-1, genres "|"-separated).

    All 1,000,209 ratings are kept; the paper's loader (``np.genfromtxt(..., skip_footer=1)``) dropped the
    last line, hence its 1,000,208.
    """
    with zipfile.ZipFile(archive) as zipped:
        ratings_data = zipped.read("ml-1m/ratings.dat")
        movies_data = zipped.read("ml-1m/movies.dat")
    columns = {"user": pl.String, "item": pl.String, "rating": pl.Float32, "timestamp": pl.Int64}
    ratings = read_fields(
        ratings_data, source=f"{archive}:ml-1m/ratings.dat", separator="::", columns=columns
    )
    return RawTables(
        _ratings(ratings), _movielens_movies(movies_data, f"{archive}:ml-1m/movies.dat")
    )


def parse_coat(archive: Path) -> RawTables:
    """``coat.zip`` (Schnabel et al. 2016): the 290 × 300 ``train.ascii`` matrix (0 = unrated) and the 33
    binary attributes of ``user_item_features/item_features.ascii``. The MNAR ``test.ascii`` is not used
    (as in the paper). Ids are row and column positions; there are no timestamps.
    """
    with zipfile.ZipFile(archive) as zipped:
        train = _ascii_matrix(zipped.read("coat/train.ascii"), f"{archive}:coat/train.ascii")
        features_name = "coat/user_item_features/item_features.ascii"
        features = _ascii_matrix(zipped.read(features_name), f"{archive}:{features_name}")
    if features.shape[0] != train.shape[1]:
        raise DivlibError(
            f"{archive}: item_features.ascii has {features.shape[0]} rows but train.ascii has "
            f"{train.shape[1]} items; the archive is not the Coat release"
        )
    users, items = np.nonzero(train)
    ratings = pl.DataFrame(
        {
            "user": users.astype(str),
            "item": items.astype(str),
            "rating": train[users, items].astype(np.float32),
            "timestamp": pl.Series([None] * len(users), dtype=pl.Int64),
        }
    )
    names = [f"attribute_{j:02d}" for j in range(features.shape[1])]
    categories = [[names[j] for j in np.flatnonzero(row)] for row in features]
    item_table = pl.DataFrame(
        {"item": np.arange(features.shape[0]).astype(str), "title": [None] * features.shape[0]},
        schema={"item": pl.String, "title": pl.String},
    ).with_columns(pl.Series("categories", categories, dtype=pl.List(pl.String)))
    return RawTables(ratings, item_table)


def parse_kuairec(archive: Path) -> RawTables:
    """``KuaiRec.zip`` (2.0): the fully observed ``small_matrix.csv`` and ``item_categories.csv``.

    rating = round(interp(watch_ratio, [0, 2], [1, 5])): ratios above 2 give 5; halves round to even, as
    NumPy's (and the paper code's) ``round`` does. Timestamps are whole seconds, null when missing.
    """
    with zipfile.ZipFile(archive) as zipped:
        names = {Path(name).name: name for name in zipped.namelist()}
        for needed in ("small_matrix.csv", "item_categories.csv"):
            if needed not in names:
                raise DivlibError(
                    f"{archive}: {needed} not found; is this the KuaiRec 2.0 archive?"
                )
        matrix = pl.read_csv(io.BytesIO(zipped.read(names["small_matrix.csv"])))
        categories = pl.read_csv(io.BytesIO(zipped.read(names["item_categories.csv"])))
    stars = np.rint(np.interp(matrix["watch_ratio"].to_numpy(), (0.0, 2.0), (1.0, 5.0)))
    ratings = matrix.select(
        pl.col("user_id").cast(pl.String).alias("user"),
        pl.col("video_id").cast(pl.String).alias("item"),
        pl.Series("rating", stars, dtype=pl.Float32),
        pl.col("timestamp").cast(pl.Float64).floor().cast(pl.Int64).alias("timestamp"),
    )
    items = categories.select(
        pl.col("video_id").cast(pl.String).alias("item"),
        pl.lit(None, dtype=pl.String).alias("title"),
        pl.col("feat").str.extract_all(r"\d+").alias("categories"),
    )
    return RawTables(ratings, items)


def _movielens_movies(data: bytes, source: str) -> pl.DataFrame:
    columns = {"item": pl.String, "title": pl.String, "genres": pl.String}
    movies = read_fields(data, source=source, separator="::", columns=columns, encoding="latin-1")
    return movies.select("item", "title", pl.col("genres").str.split("|").alias("categories"))


def _ascii_matrix(data: bytes, source: str) -> np.ndarray:
    rows = [line.split() for line in data.decode("ascii").splitlines() if line.strip()]
    widths = {len(row) for row in rows}
    if len(widths) != 1:
        raise DivlibError(
            f"{source}: rows have different lengths {sorted(widths)}; file is corrupt"
        )
    try:
        return np.array(rows, dtype=np.float64)
    except ValueError as error:
        raise DivlibError(f"{source}: a value is not a number ({error})") from error


def _ratings(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(
        "user",
        "item",
        pl.col("rating").cast(pl.Float32),
        pl.col("timestamp").cast(pl.Int64) if "timestamp" in frame.columns else pl.lit(None),
    )


def _malformed(source: str, row: dict, problem: str) -> None:
    line = row["line"] if len(row["line"]) <= 120 else row["line"][:117] + "..."
    raise DivlibError(
        f"{source}, line {row['number']}: {problem}; got {line!r}. The file is corrupt or not the "
        "expected release: delete it and download it again"
    )


def strip_year(title: str) -> tuple[str, int | None]:
    """ "Heat (1995)" → ("heat", 1995): a lower-case title without punctuation and its year, for matching."""
    match = re.search(r"\((\d{4})\)\s*$", title)
    year = int(match.group(1)) if match else None
    core = title[: match.start()] if match else title
    core = re.sub(r"^(.*), (the|a|an)$", r"\2 \1", core.strip(), flags=re.IGNORECASE)
    return re.sub(r"[^a-z0-9]+", " ", core.lower()).strip(), year
