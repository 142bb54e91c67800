"""The paper's split: per user, 20 % of the ratings to test, then 20 % of the rest to validation (64/16/20).

Per user with n ratings: ``n_test = round(test_fraction · n)``, then
``n_val = round(val_fraction · (n − n_test))``, the rest to train, rounding halves to even. Which ratings
go where is a seeded random permutation within each user (stratified by user, as the paper's
``train_test_split(stratify=user)``, though not its exact draw). A user with too few ratings for every
part keeps them in train: such users are counted, never dropped.
"""

import numpy as np
import polars as pl

from divlib.errors import DivlibError


def split_ratings(
    ratings: pl.DataFrame, *, test_fraction: float, val_fraction: float, seed: int
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, dict]:
    """Split canonical ratings into train, validation and test; also return counts for meta.json."""
    for name, value in (("test_fraction", test_fraction), ("val_fraction", val_fraction)):
        if not isinstance(value, int | float) or not 0 <= value < 1:
            raise DivlibError(f"data.{name} must lie in [0, 1); params.yaml has {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise DivlibError(f"data.seed must be an int >= 0; params.yaml has {seed!r}")
    keys = np.random.default_rng(seed).random(len(ratings))
    ranked = ratings.with_columns(pl.Series("_key", keys)).with_columns(
        pl.col("_key").rank("ordinal").over("user").alias("_position") - 1,
        pl.len().over("user").alias("_count"),
    )
    ranked = ranked.with_columns(
        (pl.col("_count") * test_fraction)
        .round_sig_figs(15)
        .round(0, mode="half_to_even")
        .cast(pl.Int64)
        .alias("_test"),
    ).with_columns(
        ((pl.col("_count") - pl.col("_test")) * val_fraction)
        .round_sig_figs(15)
        .round(0, mode="half_to_even")
        .cast(pl.Int64)
        .alias("_val"),
    )
    ranked = ranked.with_columns(
        pl.when(pl.col("_count") - pl.col("_test") - pl.col("_val") < 1)
        .then(0)
        .otherwise(pl.col("_test"))
        .alias("_test"),
    ).with_columns(
        pl.when(pl.col("_count") - pl.col("_test") - pl.col("_val") < 1)
        .then(0)
        .otherwise(pl.col("_val"))
        .alias("_val"),
    )
    part = (
        pl.when(pl.col("_position") < pl.col("_test"))
        .then(pl.lit("test"))
        .when(pl.col("_position") < pl.col("_test") + pl.col("_val"))
        .then(pl.lit("val"))
        .otherwise(pl.lit("train"))
    )
    ranked = ranked.with_columns(part.alias("_part"))
    columns = ratings.columns
    train, val, test = (
        ranked.filter(pl.col("_part") == name).select(columns).sort("user", "item")
        for name in ("train", "val", "test")
    )
    per_user = ranked.group_by("user").agg(pl.col("_test").first(), pl.col("_val").first())
    counts = {
        "train": len(train),
        "val": len(val),
        "test": len(test),
        "users_without_test": int((per_user["_test"] == 0).sum()),
        "users_without_val": int((per_user["_val"] == 0).sum()),
    }
    return train, val, test, counts
