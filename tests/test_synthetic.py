import numpy as np
import polars as pl
import pytest

from divlib.data import synthetic_ratings
from divlib.errors import DivlibError

SIZE = {"users": 400, "items": 600, "ratings": 16000, "categories": 10}


def test_same_seed_same_table_other_seed_other_table():
    first = synthetic_ratings(**SIZE, seed=4)
    assert first.ratings.equals(synthetic_ratings(**SIZE, seed=4).ratings)
    assert first.items.equals(synthetic_ratings(**SIZE, seed=4).items)
    assert not first.ratings.equals(synthetic_ratings(**SIZE, seed=5).ratings)


def test_sizes_ranges_and_no_repeated_pairs():
    raw = synthetic_ratings(**SIZE, seed=0)
    ratings = raw.ratings
    assert abs(len(ratings) - SIZE["ratings"]) < 0.05 * SIZE["ratings"]
    assert ratings.select("user", "item").is_duplicated().sum() == 0
    assert ratings["user"].cast(int).max() < SIZE["users"] and len(raw.items) == SIZE["items"]
    assert set(ratings["rating"].unique().to_list()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert raw.items["categories"].list.len().min() >= 1


def test_popularity_is_skewed():
    counts = synthetic_ratings(**SIZE, seed=0).ratings.group_by("item").len()["len"].to_numpy()
    top = np.sort(counts)[::-1][: SIZE["items"] // 100]  # the 1 % most popular items
    assert top.sum() / counts.sum() > 0.05  # five times their share under uniform popularity


def top_category_share(ratings: pl.DataFrame, items: pl.DataFrame) -> float:
    """Mean over users of the share of their ratings that fall in their most-rated category."""
    per = ratings.join(items, on="item").explode("categories").group_by("user", "categories")
    counts = per.len().group_by("user").agg(pl.col("len").max(), pl.col("len").sum().alias("n"))
    return (counts["len"] / ratings.group_by("user").len()["len"].mean()).mean()


def test_users_concentrate_on_their_categories():
    # With preference 1 and one preferred category every rating is in the user's category: share 1.
    pure = synthetic_ratings(**SIZE, seed=0, preferred_categories=1, preference=1.0)
    per_user = pure.ratings.join(pure.items, on="item").explode("categories")
    in_top = per_user.group_by("user", "categories").len().group_by("user").agg(pl.col("len").max())
    totals = pure.ratings.group_by("user").len()
    assert in_top.join(totals, on="user").filter(pl.col("len") != pl.col("len_right")).is_empty()
    # By default users still concentrate more than the same items shuffled across users, which keeps
    # item popularity but breaks the preferences.
    raw = synthetic_ratings(**SIZE, seed=0)
    shuffled = raw.ratings.with_columns(pl.col("item").shuffle(seed=0))
    assert (
        top_category_share(raw.ratings, raw.items) > top_category_share(shuffled, raw.items) + 0.05
    )


def test_bad_sizes_are_named():
    with pytest.raises(DivlibError, match="synthetic.users must be an int >= 1"):
        synthetic_ratings(users=0, items=10, ratings=10)
