import hashlib

import numpy as np
import polars as pl
import pytest

import divlib.study.data.synthetic
from divlib.errors import DivlibError
from divlib.study.data import synthetic_ratings

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


def digest(ratings: pl.DataFrame) -> str:
    """sha256 of the user, item and rating columns' bytes, in row order."""
    h = hashlib.sha256()
    for name in ("user", "item", "rating"):
        h.update(ratings[name].to_numpy().tobytes())
    return h.hexdigest()


def test_a_table_of_one_chunk_is_the_single_pass_generators():
    # The digest of the table drawn by the single-pass generator (before chunking; 15,521 ratings).
    ratings = synthetic_ratings(**SIZE, seed=0).ratings
    assert len(ratings) == 15_521
    assert digest(ratings) == "9ee3e060b3fabae8b3be3c165763d80d59d23293c70cc78e873b3494db78eeee"
    assert ratings.schema == {
        "user": pl.Int32,
        "item": pl.Int32,
        "rating": pl.Float32,
        "timestamp": pl.Int64,
    }


def test_chunks_of_users_give_a_table_like_the_single_chunks(monkeypatch):
    single = synthetic_ratings(**SIZE, seed=0)
    monkeypatch.setattr(divlib.study.data.synthetic, "CHUNK_RATINGS", 1000)  # about 16 chunks
    chunked = synthetic_ratings(**SIZE, seed=0)
    assert chunked.items.equals(single.items)  # the item side is drawn before the users
    assert digest(chunked.ratings) == digest(synthetic_ratings(**SIZE, seed=0).ratings)  # seeded
    assert digest(chunked.ratings) != digest(single.ratings)
    ratings = chunked.ratings
    assert ratings.select("user", "item").is_duplicated().sum() == 0
    assert set(ratings["rating"].unique().to_list()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert ratings["item"].max() < SIZE["items"] and ratings["user"].max() < SIZE["users"]
    # each user wants the same count in both (drawn before the chunks), short by the pairs that its
    # 8 rounds drew again: 15,521 and 15,541 ratings, 0.64 apart per user on average (of 39)
    counts = [table.ratings.group_by("user").len().sort("user") for table in (single, chunked)]
    joined = counts[0].join(counts[1], on="user")
    apart = (joined["len"].cast(pl.Int64) - joined["len_right"].cast(pl.Int64)).abs()
    assert len(joined) == SIZE["users"] and apart.mean() < 1.0
    assert abs(len(ratings) - len(single.ratings)) < 0.01 * len(single.ratings)
    assert top_category_share(ratings, chunked.items) == pytest.approx(
        top_category_share(single.ratings, single.items), abs=0.03
    )


def test_chunks_cover_the_users_in_order():
    per_user = np.array([3, 900, 5, 2500, 1, 1, 700, 40])
    chunked = divlib.study.data.synthetic._chunks
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(divlib.study.data.synthetic, "CHUNK_RATINGS", 1000)
        bounds = chunked(per_user)
    assert bounds == [(0, 3), (3, 6), (6, 8)]  # cut at the users whose count passes 1000, 4000
    for low, high in bounds:
        assert per_user[low:high].sum() < 2 * 1000 or per_user[low:high].max() > 1000
    assert chunked(per_user) == [(0, 8)]  # 4,150 wanted ratings: one chunk at the default size


def test_bad_sizes_are_named():
    with pytest.raises(DivlibError, match="synthetic.users must be an int >= 1"):
        synthetic_ratings(users=0, items=10, ratings=10)
