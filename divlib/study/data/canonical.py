"""The canonical form every dataset is stored in, and its summary (``meta.json``).

* ``ratings``: ``user`` int32, ``item`` int32, ``rating`` float32, ``timestamp`` int64 (may be null);
* ``items``: ``item`` int32, ``original_id`` str, ``title`` str (may be null), ``categories`` list[str].

Ids are re-indexed 0..n−1 in ascending order of the original id: numerically when every original id is
an integer, else lexicographically. Only items that have at least one rating are kept, so the catalogue
is the set of rated items (as in the paper's Table II: 3,706 ML-1M items, not the 3,883 listed).
"""

import logging
import time

import polars as pl
import torch

from divlib.errors import DivlibError
from divlib.io import write_json
from divlib.similarity import GroupedDistance, save_distance
from divlib.study.data.parsers import RawTables
from divlib.study.layout import HERE, Layout, read_parquet

log = logging.getLogger(__name__)


def canonicalize(raw: RawTables, *, source: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Re-index users and items, check the ratings, and attach categories to the rated items."""
    ratings = raw.ratings
    bad = ratings.filter(pl.col("rating").is_null() | ~pl.col("rating").is_finite())
    if len(bad):
        raise DivlibError(f"{source}: {len(bad)} rating(s) are missing or not finite")
    duplicates = ratings.select("user", "item").is_duplicated().sum()
    if duplicates:
        raise DivlibError(
            f"{source}: {duplicates} ratings share their (user, item) pair with another; the raw file is not the "
            "expected release"
        )
    users = _index(ratings["user"], "user")
    items = _index(ratings["item"], "item")
    unknown = items.join(raw.items, left_on="original_id", right_on="item", how="anti")
    if len(unknown):
        raise DivlibError(
            f"{source}: {len(unknown)} rated item(s) have no entry in the item file (first: "
            f"{unknown['original_id'][0]})"
        )
    canonical_ratings = (
        ratings.join(users, left_on="user", right_on="original_id")
        .join(items, left_on="item", right_on="original_id")
        .select(
            pl.col("user_right").alias("user"),
            pl.col("item_right").alias("item"),
            pl.col("rating").cast(pl.Float32),
            pl.col("timestamp").cast(pl.Int64),
        )
        .sort("user", "item")
    )
    canonical_items = items.join(
        raw.items.rename({"item": "original_id"}), on="original_id", how="left"
    ).select(
        pl.col("item").cast(pl.Int32),
        pl.col("original_id").cast(pl.String),
        pl.col("title").cast(pl.String),
        pl.col("categories").cast(pl.List(pl.String)).list.unique(maintain_order=True),
    )
    return canonical_ratings, canonical_items.sort("item")


def category_matrix(items: pl.DataFrame) -> tuple[torch.Tensor, list[str]]:
    """``(m, c)`` 0/1 float tensor of the items' categories, and the category names (sorted)."""
    exploded = items.select("item", "categories").explode("categories").drop_nulls()
    names = sorted(exploded["categories"].unique().to_list())
    column = {name: j for j, name in enumerate(names)}
    matrix = torch.zeros(len(items), len(names))
    rows = torch.tensor(exploded["item"].to_list(), dtype=torch.int64)
    cols = torch.as_tensor([column[name] for name in exploded["categories"].to_list()])
    matrix[rows, cols] = 1.0
    return matrix, names


def catalogue_diversity(distance: GroupedDistance) -> float:
    """DRO(I) of Table II: the mean distance over all ordered pairs of distinct items."""
    m = distance.n_items
    ones = torch.ones(1, m, dtype=distance.group_distance.dtype)
    return float(distance.pair_sum(ones)[0] / (m * (m - 1)))


def dataset_meta(ratings: pl.DataFrame, items: pl.DataFrame, distance: GroupedDistance) -> dict:
    """Counts, category count and DRO(I) for ``meta.json``."""
    rating_values = ratings["rating"]
    return {
        "users": ratings["user"].n_unique(),
        "items": len(items),
        "ratings": len(ratings),
        "density": round(len(ratings) / (ratings["user"].n_unique() * len(items)), 6),
        "rating_min": float(rating_values.min()),
        "rating_max": float(rating_values.max()),
        "categories": len(category_matrix(items)[1]),
        "items_without_category": int((items["categories"].list.len() == 0).sum()),
        "category_sets": distance.n_groups,
        "catalogue_dro": round(catalogue_diversity(distance), 6),
    }


def _index(ids: pl.Series, name: str) -> pl.DataFrame:
    unique = ids.unique()
    numeric = unique.cast(pl.Int64, strict=False)
    order = numeric if numeric.null_count() == 0 else unique
    frame = pl.DataFrame({"original_id": unique, "_order": order}).sort("_order")
    return frame.select("original_id", pl.int_range(pl.len(), dtype=pl.Int32).alias(name))


def build_similarity(dataset: str, *, layout: Layout = HERE) -> None:
    """The ``similarity`` stage: the item distance of ``dataset`` (Jaccard over category sets, in
    grouped form) from its prepared catalogue. Writes ``data/similarity/D/distance.pt`` (load it
    with :func:`divlib.load_distance`) and the small metrics file ``metrics/D/similarity.json``."""
    start = time.perf_counter()
    items = read_parquet(layout.items(dataset))
    categories, names = category_matrix(items)
    distance = GroupedDistance.from_categories(categories)
    save_distance(distance, layout.distance(dataset), names)
    summary = {
        "items": distance.n_items,
        "category_sets": distance.n_groups,
        "catalogue_dro": round(catalogue_diversity(distance), 6),
    }
    write_json(summary, layout.metrics(dataset, "similarity"))
    log.info("%s: %s in %.1f s", dataset, summary, time.perf_counter() - start)
