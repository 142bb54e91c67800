"""Parsers from each dataset's raw files to raw tables with the original ids.

Every parser returns :class:`RawTables`:

* ``ratings``: ``user``, ``item`` (original ids: str, or integers), ``rating`` (float32), ``timestamp``
  (int64, may be null);
* ``items``: ``item`` (same dtype as in ``ratings``), ``title`` (str, may be null), ``categories``
  (list of str).

Text files are read into polars with each row's line number (:func:`read_fields`, :func:`read_csv`), and
checked against the dataset's :class:`Conventions` (:func:`check_table`), so the first bad line is
reported with its file, line number and value: wrong encoding, separator or field count, an empty or
header-only file, a rating off the scale, an id that is not a whole number in range, a repeated pair.
Preprocessing follows ``shared/notes/paper.md`` §1.3.
"""

import re
import zipfile
import zlib
from pathlib import Path
from typing import NamedTuple, NoReturn

import numpy as np
import polars as pl

from divlib.errors import DivlibError


class RawTables(NamedTuple):
    ratings: pl.DataFrame
    items: pl.DataFrame


class Conventions(NamedTuple):
    """The values a dataset's files hold: whole-star ratings ``low``..``high`` and whole-number ids
    from ``first_id`` on; ``name`` names the dataset in messages."""

    name: str
    low: int
    high: int
    first_id: int


MOVIELENS = Conventions("MovieLens", 1, 5, first_id=1)
COAT = Conventions("Coat", 1, 5, first_id=0)  # ids are matrix positions
KUAIREC = Conventions("KuaiRec", 1, 5, first_id=0)
ML100K_GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
RECBOLE_INTER = ["user_id:token", "item_id:token", "rating:float", "timestamp:float"]
RECBOLE_ITEM = ["item_id:token", "movie_title:token_seq", "release_year:token", "class:token_seq"]
SEPARATORS = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe", "::": "'::'", " ": "space"}


def decode(data: bytes, *, source: str, encoding: str) -> str:
    """``data`` as text; a byte that is not ``encoding``, or a latin-1 file that was re-encoded as
    UTF-8, is reported with its line."""
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        name = {"utf-8": "UTF-8", "ascii": "ASCII"}.get(encoding, encoding)
        raise DivlibError(
            f"{source} line {line}: byte {data[error.start]:#04x} is not valid {name}; the file "
            f"should be {name} text"
        ) from None
    if encoding == "latin-1" and not data.isascii() and _is_utf8(data):
        start = re.search(rb"[\x80-\xff]", data).start()
        line = data.count(b"\n", 0, start) + 1
        shown = data[data.rfind(b"\n", 0, start) + 1 :].split(b"\n", 1)[0].decode("utf-8")
        raise DivlibError(
            f"{source} line {line}: {_clip(shown)!r} is UTF-8 text, but the file's encoding is "
            "latin-1; it was re-encoded"
        )
    return text


def read_fields(
    data: bytes,
    *,
    source: str,
    separator: str,
    columns: dict[str, pl.DataType],
    header: list[str] | None = None,
    encoding: str = "utf-8",
) -> pl.DataFrame:
    """Split the lines of a delimited text file into typed columns, naming the first bad line.

    Args:
        data: the file's bytes; ``source`` names it in errors ("ml-1m.zip:ml-1m/ratings.dat").
        separator: field separator, any length (ML-1M uses "::").
        columns: name → dtype, in file order; every line must have exactly this many fields.
        header: the field names line 1 must hold, if the file has a header. Empty lines are ignored.

    Returns:
        ``columns`` and ``line``, each row's line number.
    """
    text = pl.Series("text", decode(data, source=source, encoding=encoding).split("\n"))
    frame = (
        pl.DataFrame({"text": text.str.strip_suffix("\r")})
        .with_row_index("line", offset=1)
        .filter(pl.col("text").str.len_bytes() > 0)
    )
    if frame.is_empty():
        raise DivlibError(f"{source} is empty: it has no lines ({len(data)} bytes)")
    fields = frame.with_columns(pl.col("text").str.split(separator).alias("fields"))
    wrong = fields.filter(pl.col("fields").list.len() != len(columns))
    if len(wrong):
        row = wrong.row(0, named=True)
        found, expected = len(row["fields"]), len(columns)
        hint = _looks_separated(row["text"], separator, expected) if found == 1 else ""
        _malformed(
            source,
            row["line"],
            f"{found} field{'s' * (found != 1)} where {expected} {_separator(separator)}-separated "
            f"fields are expected{hint}; got {_clip(row['text'])!r}",
        )
    if header is not None:
        first = fields.row(0, named=True)
        if first["line"] != 1 or first["fields"] != header:
            _malformed(
                source,
                first["line"],
                f"the header should be {separator.join(header)!r}; got {_clip(first['text'])!r}",
            )
        fields = fields.slice(1)
        if fields.is_empty():
            raise DivlibError(f"{source} has only its header (line 1) and no data lines")
    parsed = fields.select(
        "line",
        *(
            pl.col("fields").list.get(i).str.strip_chars().alias(name)
            for i, name in enumerate(columns)
        ),
    )
    return _typed(parsed, columns, source)


def read_csv(data: bytes, *, source: str, columns: dict[str, pl.DataType]) -> pl.DataFrame:
    """The ``columns`` (name → dtype; others are ignored) of a comma-separated UTF-8 file with a
    header, typed, and ``line``, each row's line number (one record per line). Blank lines are
    ignored."""
    text = decode(data, source=source, encoding="utf-8")
    if not text.strip():
        raise DivlibError(f"{source} is empty: it has no lines ({len(data)} bytes)")
    try:
        frame = pl.read_csv(data, infer_schema=False)
    except pl.exceptions.PolarsError as error:
        problem = str(error).splitlines()[0]
        raise DivlibError(f"{source} cannot be read as CSV ({problem})") from None
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        header = text.split("\n", 1)[0].rstrip("\r")
        hint = _looks_separated(header, ",", len(columns)) if len(frame.columns) == 1 else ""
        _malformed(source, 1, f"the header {_clip(header)!r} has no column {missing}{hint}")
    frame = (
        frame.select(*columns)
        .with_row_index("line", offset=2)
        .filter(~pl.all_horizontal(pl.col(*columns).is_null()))
    )
    if frame.is_empty():
        raise DivlibError(f"{source} has only its header (line 1) and no data lines")
    return _typed(frame, columns, source)


def check_table(
    frame: pl.DataFrame, *, source: str, rules: Conventions, unit: str = "line"
) -> None:
    """Raise on the first ``unit`` (the ``line`` column) of a ratings table (``user``, ``item``,
    ``rating``) or an item table (``item``) whose id is not a whole number ≥ ``rules.first_id``, whose
    rating is not a whole star in ``rules.low``..``rules.high``, or whose key repeats an earlier one."""
    key = ["user", "item"] if "user" in frame.columns else ["item"]
    numbers = frame.select("line", *(pl.col(name).cast(pl.Int64, strict=False) for name in key))
    checks = {
        f"bad_{name}": numbers[name].is_null() | (numbers[name] < rules.first_id) for name in key
    }
    if "rating" in frame.columns:
        rating = frame["rating"]
        on_scale = rating.is_between(rules.low, rules.high) & (rating == rating.round())
        checks["bad_rating"] = ~on_scale.fill_null(False)
    checks["repeated"] = ~numbers.select(pl.struct(key).is_first_distinct()).to_series()
    flagged = frame.with_columns(**checks).with_row_index("_row").filter(pl.any_horizontal(*checks))
    if flagged.is_empty():
        return
    row = flagged.row(0, named=True)
    scale = f"{rules.name}'s scale {rules.low}..{rules.high}"
    if bad_id := next((name for name in key if row[f"bad_{name}"]), None):
        problem = (
            f"{bad_id} id {_show(row[bad_id])} is not a whole number ≥ {rules.first_id}, as "
            f"{rules.name}'s ids are"
        )
    elif row.get("bad_rating") and row["rating"] is None:
        problem = f"the rating is missing ({scale})"
    elif row.get("bad_rating"):
        where = "outside" if not rules.low <= row["rating"] <= rules.high else "not a whole star on"
        problem = f"rating {row['rating']:g} is {where} {scale}"
    else:
        same = (pl.col(name) == numbers[name][row["_row"]] for name in key)
        first = numbers.filter(*same)["line"][0]
        if key == ["item"]:
            problem = f"item {_show(row['item'])} is listed again (first on {unit} {first})"
        else:
            pair = f"user {_show(row['user'])}, item {_show(row['item'])}"
            problem = f"{pair} is rated again (first on {unit} {first})"
    raise DivlibError(f"{source} {unit} {row['line']}: {problem}")


def read_zip(archive: Path, names: list[str]) -> dict[str, tuple[bytes, str]]:
    """name → (bytes, source) of members of ``archive``; a name matches a member of that name or one
    ending in ``/name``. A damaged archive or a missing member is reported."""
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = zipped.namelist()
            found = {}
            for name in names:
                member = next((m for m in members if m == name or m.endswith(f"/{name}")), None)
                if member is None:
                    raise DivlibError(f"{archive} has no member {name}; is it the right release?")
                found[name] = zipped.read(member), f"{archive}:{member}"
            return found
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise DivlibError(f"{archive} is not a readable zip archive ({error})") from None


def parse_ml100k_recbole(inter: Path, item: Path) -> RawTables:
    """``ml-100k.inter`` and ``ml-100k.item`` as shipped in the recbole 1.2.1 wheel (UTF-8).

    Titles are rebuilt in the GroupLens form "Title (year)" so both sources give the same table; recbole's
    typo "unkonwn" (item 267) is read as "unknown".
    """
    columns = {"user": pl.String, "item": pl.String, "rating": pl.Float32, "timestamp": pl.Float64}
    ratings = read_fields(
        inter.read_bytes(), source=str(inter), separator="\t", columns=columns, header=RECBOLE_INTER
    )
    check_table(ratings, source=str(inter), rules=MOVIELENS)
    items = read_fields(
        item.read_bytes(),
        source=str(item),
        separator="\t",
        columns={"item": pl.String, "title": pl.String, "year": pl.String, "genres": pl.String},
        header=RECBOLE_ITEM,
    )
    check_table(items, source=str(item), rules=MOVIELENS)
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
    files = read_zip(archive, ["ml-100k/u.data", "ml-100k/u.item"])
    (data, data_source), (item_data, item_source) = files.values()
    columns = {"user": pl.String, "item": pl.String, "rating": pl.Float32, "timestamp": pl.Int64}
    ratings = read_fields(data, source=data_source, separator="\t", columns=columns)
    check_table(ratings, source=data_source, rules=MOVIELENS)
    item_columns = {"item": pl.String, "title": pl.String, "date": pl.String, "video": pl.String}
    item_columns |= {"url": pl.String} | {f"g{i}": pl.Int8 for i in range(len(ML100K_GENRES))}
    items = read_fields(
        item_data, source=item_source, separator="|", columns=item_columns, encoding="latin-1"
    )
    check_table(items, source=item_source, rules=MOVIELENS)
    flags = pl.concat_list(
        pl.when(pl.col(f"g{i}") == 1).then(pl.lit(name)) for i, name in enumerate(ML100K_GENRES)
    ).list.drop_nulls()
    return RawTables(_ratings(ratings), items.select("item", "title", flags.alias("categories")))


def parse_ml1m(archive: Path) -> RawTables:
    """``ml-1m.zip``: ``ratings.dat`` and ``movies.dat`` ("::"-separated, latin-1, genres "|"-separated).

    All 1,000,209 ratings are kept; the paper's loader (``np.genfromtxt(..., skip_footer=1)``) dropped the
    last line, hence its 1,000,208.
    """
    files = read_zip(archive, ["ml-1m/ratings.dat", "ml-1m/movies.dat"])
    (ratings_data, ratings_source), (movies_data, movies_source) = files.values()
    columns = {"user": pl.String, "item": pl.String, "rating": pl.Float32, "timestamp": pl.Int64}
    ratings = read_fields(ratings_data, source=ratings_source, separator="::", columns=columns)
    check_table(ratings, source=ratings_source, rules=MOVIELENS)
    columns = {"item": pl.String, "title": pl.String, "genres": pl.String}
    movies = read_fields(
        movies_data, source=movies_source, separator="::", columns=columns, encoding="latin-1"
    )
    check_table(movies, source=movies_source, rules=MOVIELENS)
    categories = pl.col("genres").str.split("|").alias("categories")
    return RawTables(_ratings(ratings), movies.select("item", "title", categories))


def parse_coat(archive: Path) -> RawTables:
    """``coat.zip`` (Schnabel et al. 2016): the 290 × 300 ``train.ascii`` matrix (0 = unrated) and the 33
    binary attributes of ``user_item_features/item_features.ascii``. The MNAR ``test.ascii`` is not used
    (as in the paper). Ids are row and column positions; there are no timestamps.
    """
    features_name = "coat/user_item_features/item_features.ascii"
    files = read_zip(archive, ["coat/train.ascii", features_name])
    train, train_lines = _ascii_matrix(*files["coat/train.ascii"])
    features, feature_lines = _ascii_matrix(*files[features_name])
    if features.shape[0] != train.shape[1]:
        raise DivlibError(
            f"{archive}: item_features.ascii has {features.shape[0]} rows but train.ascii has "
            f"{train.shape[1]} items; the archive is not the Coat release"
        )
    off = np.argwhere((features != 0) & (features != 1))
    if len(off):
        row, column = off[0]
        raise DivlibError(
            f"{files[features_name][1]} line {feature_lines[row]}: attribute {column + 1} is "
            f"{features[row, column]:g}; attributes are 0 or 1"
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
    check_table(
        ratings.with_columns(line=pl.Series(train_lines[users])),
        source=files["coat/train.ascii"][1],
        rules=COAT,
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
    files = read_zip(archive, ["small_matrix.csv", "item_categories.csv"])
    matrix_source = files["small_matrix.csv"][1]
    columns = {
        "user_id": pl.Int64,
        "video_id": pl.Int64,
        "timestamp": pl.Float64,
        "watch_ratio": pl.Float64,
    }
    matrix = read_csv(files["small_matrix.csv"][0], source=matrix_source, columns=columns)
    ratio = pl.col("watch_ratio")
    negative = matrix.filter(~((ratio >= 0) & ratio.is_finite()).fill_null(False))
    if len(negative):
        row = negative.row(0, named=True)
        raise DivlibError(
            f"{matrix_source} line {row['line']}: watch_ratio {_show(row['watch_ratio'])} is not "
            "a finite number ≥ 0"
        )
    stars = np.rint(np.interp(matrix["watch_ratio"].to_numpy(), (0.0, 2.0), (1.0, 5.0)))
    ratings = matrix.select(
        pl.col("user_id").cast(pl.String).alias("user"),
        pl.col("video_id").cast(pl.String).alias("item"),
        pl.Series("rating", stars, dtype=pl.Float32),
        pl.col("timestamp").floor().cast(pl.Int64).alias("timestamp"),
        "line",
    )
    check_table(ratings, source=matrix_source, rules=KUAIREC)
    data, source = files["item_categories.csv"]
    categories = read_csv(data, source=source, columns={"video_id": pl.Int64, "feat": pl.String})
    items = categories.select(
        pl.col("video_id").cast(pl.String).alias("item"),
        pl.lit(None, dtype=pl.String).alias("title"),
        pl.col("feat").str.extract_all(r"\d+").alias("categories"),
        "line",
    )
    check_table(items, source=source, rules=KUAIREC)
    return RawTables(ratings.drop("line"), items.drop("line"))


def _typed(frame: pl.DataFrame, columns: dict[str, pl.DataType], source: str) -> pl.DataFrame:
    """``frame``'s string ``columns`` cast to their dtypes, and ``line``; the first value that does
    not cast is reported (an empty field is null)."""
    typed = frame.with_columns(
        pl.col(name).cast(dtype, strict=False).alias(f"_{name}")
        for name, dtype in columns.items()
        if dtype != pl.String
    )
    for name, dtype in columns.items():
        if dtype == pl.String:
            continue
        bad = typed.filter(pl.col(f"_{name}").is_null() & (pl.col(name) != ""))
        if len(bad):
            row = bad.row(0, named=True)
            kind = "a whole number" if dtype.is_integer() else "a number"
            _malformed(source, row["line"], f"{name} {_clip(row[name])!r} is not {kind}")
    return typed.select(
        "line",
        *(
            pl.col(f"_{name}").alias(name) if dtype != pl.String else pl.col(name)
            for name, dtype in columns.items()
        ),
    )


def _ascii_matrix(data: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    """The whitespace-separated numbers of ``data`` and the line number of each (non-blank) row."""
    lines = decode(data, source=source, encoding="ascii").splitlines()
    rows = [(number, line.split()) for number, line in enumerate(lines, start=1) if line.strip()]
    if not rows:
        raise DivlibError(f"{source} is empty: it has no lines ({len(data)} bytes)")
    width, values = len(rows[0][1]), []
    for number, row in rows:
        if len(row) != width:
            _malformed(source, number, f"{len(row)} values where line {rows[0][0]} has {width}")
        try:
            values.append([float(value) for value in row])
        except ValueError as error:
            _malformed(source, number, f"a value is not a number ({error})")
    return np.array(values), np.array([number for number, _ in rows])


def _ratings(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(
        "user",
        "item",
        pl.col("rating").cast(pl.Float32),
        pl.col("timestamp").cast(pl.Int64) if "timestamp" in frame.columns else pl.lit(None),
    )


def _malformed(source: str, line: int, problem: str) -> NoReturn:
    raise DivlibError(f"{source} line {line}: {problem}")


def _separator(separator: str) -> str:
    return SEPARATORS.get(separator, repr(separator))


def _looks_separated(text: str, separator: str, fields: int) -> str:
    """ " (the line looks comma-separated)" when another separator splits ``text`` into at least
    ``fields`` fields."""
    for other, name in SEPARATORS.items():
        if other != separator and len(text.split(other)) >= fields:
            return f" (the line looks {name}-separated)"
    return ""


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _show(value: object) -> str:
    if value is None:
        return "(missing)"
    if isinstance(value, str):
        return repr(_clip(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _clip(text: str, width: int = 80) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def strip_year(title: str) -> tuple[str, int | None]:
    """ "Heat (1995)" → ("heat", 1995): a lower-case title without punctuation and its year, for matching."""
    match = re.search(r"\((\d{4})\)\s*$", title)
    year = int(match.group(1)) if match else None
    core = title[: match.start()] if match else title
    core = re.sub(r"^(.*), (the|a|an)$", r"\2 \1", core.strip(), flags=re.IGNORECASE)
    return re.sub(r"[^a-z0-9]+", " ", core.lower()).strip(), year
