"""Datasets whose raw files a user must place by hand (account or licence needed): Netflix and Yahoo-R2.

Both follow the paper's sampling (``shared/notes/paper.md`` §1.3). The paper's exact subsamples are not
public, so counts differ from its Table II; the seed makes ours repeatable.
"""

from pathlib import Path

import numpy as np
import polars as pl

from divlib.study.data.parsers import (
    Conventions,
    RawTables,
    check_table,
    parse_ml1m,
    read_csv,
    read_fields,
    strip_year,
)

NETFLIX = Conventions("Netflix", 1, 5, first_id=1)
YAHOO = Conventions("Yahoo! Music", 1, 5, first_id=0)


def parse_netflix(
    movies: Path, ratings: Path, movielens: Path, *, users: int, min_ratings: int, seed: int
) -> tuple[RawTables, dict]:
    """Kaggle ``rishitjavia/netflix-movie-rating-dataset`` with genres matched from MovieLens-1M.

    Netflix titles carry no genres. Each Netflix movie is matched to an ML-1M movie with the same
    normalised title ("The Matrix" = "Matrix, The"; case and punctuation ignored) and the same year,
    else a year one off (release years differ between catalogues). Then the paper's recipe: keep the
    matched movies, sample ``users`` User_IDs with ``seed``, keep those with ≥ ``min_ratings`` ratings.

    Returns:
        The raw tables and a report: movies, matched movies, match rate, sampled and kept users.
    """
    columns = {"Movie_ID": pl.Int64, "Year": pl.String, "Name": pl.String}
    netflix = read_csv(movies.read_bytes(), source=str(movies), columns=columns)
    check_table(netflix.rename({"Movie_ID": "item"}), source=str(movies), rules=NETFLIX)
    genre_source = parse_ml1m(movielens).items
    keys = [strip_year(title) for title in genre_source["title"].to_list()]
    reference = genre_source.with_columns(
        pl.Series("key", [key for key, _ in keys]), pl.Series("year", [y for _, y in keys])
    )
    netflix = netflix.with_columns(
        pl.col("Name")
        .map_elements(lambda name: strip_year(name)[0], return_dtype=pl.String)
        .alias("key"),
        pl.col("Year").cast(pl.Int64, strict=False).alias("year"),
    )
    matched = _match_titles(netflix, reference.select("key", "year", "categories"))
    columns = {"User_ID": pl.Int64, "Rating": pl.Float32, "Movie_ID": pl.Int64}
    rating_table = read_csv(ratings.read_bytes(), source=str(ratings), columns=columns)
    named = {"User_ID": "user", "Movie_ID": "item", "Rating": "rating"}
    check_table(rating_table.rename(named), source=str(ratings), rules=NETFLIX)
    rating_table = rating_table.join(matched.select("Movie_ID"), on="Movie_ID", how="semi")
    all_users = np.sort(rating_table["User_ID"].unique().to_numpy())
    rng = np.random.default_rng(seed)
    sampled = rng.choice(all_users, size=min(users, len(all_users)), replace=False)
    kept = rating_table.filter(pl.col("User_ID").is_in(sampled)).filter(
        pl.len().over("User_ID") >= min_ratings
    )
    raw = RawTables(
        kept.select(
            pl.col("User_ID").cast(pl.String).alias("user"),
            pl.col("Movie_ID").cast(pl.String).alias("item"),
            pl.col("Rating").cast(pl.Float32).alias("rating"),
            pl.lit(None, dtype=pl.Int64).alias("timestamp"),
        ),
        matched.select(
            pl.col("Movie_ID").cast(pl.String).alias("item"),
            pl.format("{} ({})", "Name", "Year").alias("title"),
            "categories",
        ),
    )
    report = {
        "netflix_movies": len(netflix),
        "matched_movies": len(matched),
        "match_rate": round(len(matched) / max(len(netflix), 1), 4),
        "sampled_users": len(sampled),
        "kept_users": kept["User_ID"].n_unique(),
    }
    return raw, report


def parse_yahoo_r2(
    train: Path, attributes: Path, *, items: int, min_ratings: int, seed: int
) -> tuple[RawTables, dict]:
    """Yahoo! Webscope R2 (``ydata-ymusic-user-song-ratings-meta-v1_0``): ``train_0.txt`` and
    ``song-attributes.txt``; category = genreId.

    The paper's recipe: sample ``items`` songs with ``seed``, keep users with ≥ ``min_ratings`` ratings
    on them.
    """
    columns = {"user": pl.String, "item": pl.String, "rating": pl.Float32}
    ratings = read_fields(train.read_bytes(), source=str(train), separator="\t", columns=columns)
    check_table(ratings, source=str(train), rules=YAHOO)
    song_columns = {"item": pl.String, "album": pl.String, "artist": pl.String, "genre": pl.String}
    songs = read_fields(
        attributes.read_bytes(), source=str(attributes), separator="\t", columns=song_columns
    )
    check_table(songs, source=str(attributes), rules=YAHOO)
    rated = np.sort(ratings["item"].unique().to_numpy())
    rng = np.random.default_rng(seed)
    sampled = rng.choice(rated, size=min(items, len(rated)), replace=False)
    kept = ratings.filter(pl.col("item").is_in(sampled)).filter(
        pl.len().over("user") >= min_ratings
    )
    item_table = songs.select(
        "item",
        pl.lit(None, dtype=pl.String).alias("title"),
        pl.concat_list("genre").alias("categories"),
    )
    report = {"sampled_items": len(sampled), "kept_users": kept["user"].n_unique()}
    timestamp = pl.lit(None, dtype=pl.Int64).alias("timestamp")
    return RawTables(kept.select("user", "item", "rating", timestamp), item_table), report


def _match_titles(netflix: pl.DataFrame, reference: pl.DataFrame) -> pl.DataFrame:
    """Join on (title key, year), then (title key, year ± 1) for the rest; first reference match wins."""
    reference = reference.unique(subset=["key", "year"], keep="first", maintain_order=True)
    exact = netflix.join(reference, on=["key", "year"], how="inner")
    rest = netflix.join(exact.select("Movie_ID"), on="Movie_ID", how="anti")
    near = [
        rest.with_columns(pl.col("year") + shift)
        .join(reference, on=["key", "year"], how="inner")
        .with_columns(pl.col("year") - shift)
        for shift in (-1, 1)
    ]
    matched = pl.concat([exact, *near]).unique(
        subset=["Movie_ID"], keep="first", maintain_order=True
    )
    return matched.sort("Movie_ID")
