"""A seeded generator of rating data with category structure and popularity skew.

Items: each has a primary category (category sizes follow a Zipf law) and, with probability 1/3 each, one
or two more; item popularity follows a Zipf law with exponent ``popularity_skew`` (a few items are very
popular). Users: each prefers ``preferred_categories`` categories drawn by category size; the number of
ratings per user is log-normal with the requested mean. Each rating picks a category (a preferred one with
probability ``preference``, else any, by size), then an item of that category by popularity; a repeated
(user, item) pair is dropped and that user's shortfall drawn again, for up to ``TOP_UP_ROUNDS`` rounds,
so the table has about ``ratings`` rows unless users exhaust their categories (very dense tables). Ratings are
``round(3.2 + user bias + item bias + 0.9·[item in a preferred category] + noise)`` clipped to 1..5.

Everything is vectorised in NumPy (no loop over users or items). Users are drawn in chunks of about
``CHUNK_RATINGS`` wanted ratings, written into preallocated int32 / int32 / float32 columns that the
returned table views without a copy: 12 bytes a rating (1.2 GB at Netflix-Prize scale, 480,189 users ×
17,770 items, 100M ratings) plus one chunk's working arrays (about 0.4 GB). A table of at most
``CHUNK_RATINGS`` wanted ratings is one chunk, drawn exactly as by a single pass over all users.
"""

from collections.abc import Callable

import numpy as np
import polars as pl

from divlib._validate import check_count
from divlib.errors import DivlibError
from divlib.study.data.parsers import RawTables

TOP_UP_ROUNDS = 8
CHUNK_RATINGS = 1 << 22  # wanted ratings per chunk of users (the working arrays' length)


def synthetic_ratings(
    *,
    users: int,
    items: int,
    ratings: int,
    categories: int = 18,
    seed: int = 0,
    preferred_categories: int = 2,
    preference: float = 0.8,
    popularity_skew: float = 1.0,
) -> RawTables:
    """Draw a rating table with integer ids 0..n−1 (int32).

    Args:
        users, items, ratings: sizes; ``ratings`` is the expected number of ratings.
        categories: number of categories (named "c00", "c01", …).
        seed: the generator's seed; the same arguments give the same table.
        preferred_categories: categories each user prefers; ``preference``: share of a user's ratings
            drawn from them; ``popularity_skew``: Zipf exponent of item popularity.
    """
    _check(users=users, items=items, ratings=ratings, categories=categories)
    if not 0 <= preference <= 1:
        raise DivlibError(f"preference must lie in [0, 1]; got {preference}")
    rng = np.random.default_rng(seed)
    category_share = _zipf(categories, 0.8)
    primary = rng.choice(categories, size=items, p=category_share)
    extra = rng.choice(categories, size=(items, 2), p=category_share)
    extra_used = rng.random((items, 2)) < 1 / 3
    popularity = _zipf(items, popularity_skew)[rng.permutation(items)]

    # items of each category, by popularity: one cumulative table per category for inverse sampling
    order = np.argsort(primary, kind="stable")
    starts = np.searchsorted(primary[order], np.arange(categories + 1))
    cumulative = np.cumsum(popularity[order])
    if np.any(starts[1:] == starts[:-1]):
        raise DivlibError("some category has no item; raise synthetic.items or lower categories")

    per_user = rng.lognormal(0.0, 0.6, users)
    per_user = np.round(per_user / per_user.mean() * ratings / users).astype(np.int64)
    per_user = np.clip(per_user, 1, items)
    liked = rng.choice(categories, size=(users, preferred_categories), p=category_share)

    def draw_items(user_of: np.ndarray) -> np.ndarray:
        """One item per entry of ``user_of``: a category (preferred or any), then an item by popularity."""
        from_liked = rng.random(len(user_of)) < preference
        category = np.where(
            from_liked,
            liked[user_of, rng.integers(0, preferred_categories, len(user_of))],
            rng.choice(categories, size=len(user_of), p=category_share),
        )
        low = np.where(starts[category] > 0, cumulative[starts[category] - 1], 0.0)
        high = cumulative[starts[category + 1] - 1]
        u = low + rng.random(len(user_of)) * (high - low)
        position = np.searchsorted(cumulative, u, side="right")
        return order[np.minimum(position, starts[category + 1] - 1)]

    # users in chunks of about CHUNK_RATINGS wanted ratings, written into the final columns
    capacity = int(per_user.sum())
    user_column = np.empty(capacity, dtype=np.int32)
    item_column = np.empty(capacity, dtype=np.int32)
    rating_column = np.empty(capacity, dtype=np.float32)
    filled, item_bias = 0, None
    for low, high in _chunks(per_user):
        user_of, item_of = _draw_pairs(per_user[low:high], low, items, draw_items)
        user_bias = rng.normal(0, 0.4, high - low)
        if item_bias is None:  # drawn once, where the single-chunk generator draws it
            item_bias = rng.normal(0, 0.5, items)
        affinity = (liked[user_of] == primary[item_of][:, None]).any(axis=1)
        score = (
            3.2
            + user_bias[user_of - low]
            + item_bias[item_of]
            + 0.9 * affinity
            + rng.normal(0, 0.7, len(user_of))
        )
        rows = slice(filled, filled + len(user_of))
        user_column[rows], item_column[rows] = user_of, item_of
        rating_column[rows] = np.clip(np.rint(score), 1, 5)
        filled += len(user_of)
    table = pl.DataFrame(  # views of the columns, not copies
        {
            "user": user_column[:filled],
            "item": item_column[:filled],
            "rating": rating_column[:filled],
        }
    )
    names = np.array([f"c{j:02d}" for j in range(categories)])
    chosen = pl.DataFrame(
        {
            "primary": names[primary],
            "extra": names[extra[:, 0]],
            "more": names[extra[:, 1]],
            "use_extra": extra_used[:, 0],
            "use_more": extra_used[:, 1],
        }
    )
    item_table = chosen.select(
        pl.int_range(items, dtype=pl.Int32).alias("item"),
        pl.lit(None, dtype=pl.String).alias("title"),
        pl.concat_list(
            "primary",
            pl.when("use_extra").then("extra"),
            pl.when("use_more").then("more"),
        )
        .list.drop_nulls()
        .list.unique()
        .list.sort()
        .alias("categories"),
    )
    rated = table.with_columns(pl.lit(None, dtype=pl.Int64).alias("timestamp"))
    return RawTables(rated, item_table)


def _chunks(per_user: np.ndarray) -> list[tuple[int, int]]:
    """Consecutive user ranges ``[low, high)``, cut where the running count of wanted ratings passes a
    multiple of ``CHUNK_RATINGS``: under ``2·CHUNK_RATINGS`` each unless one user wants more, and one
    range when all users want at most ``CHUNK_RATINGS``."""
    ends = np.cumsum(per_user)
    cuts = np.searchsorted(ends, np.arange(CHUNK_RATINGS, ends[-1], CHUNK_RATINGS), side="right")
    bounds = np.unique(np.concatenate([[0], cuts, [len(per_user)]]))
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))


def _draw_pairs(
    wanted: np.ndarray, first_user: int, items: int, draw_items: Callable[[np.ndarray], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (user, item) pairs of the users ``first_user + 0..len(wanted)-1``, ``wanted[u]`` each.

    Each round draws every user's shortfall, keeps the first occurrence of each pair new to the table,
    in the order drawn, and appends it; for up to ``TOP_UP_ROUNDS`` rounds. Pairs are keyed
    ``user·items + item`` (users local to the chunk), the table's keys kept sorted for the look-up.
    """
    counts = np.zeros(len(wanted), dtype=np.int64)
    known = np.empty(0, dtype=np.int64)  # sorted keys of the pairs kept so far
    users, drawn_items = [], []  # one array per round
    shortfall = wanted
    for _ in range(TOP_UP_ROUNDS):
        local = np.repeat(np.arange(len(wanted), dtype=np.int64), shortfall)
        item = draw_items(local + first_user)
        keys = local * items + item
        first = np.sort(np.unique(keys, return_index=True)[1])  # first occurrences, in order
        fresh = first[~_in_sorted(known, keys[first])]
        users.append(local[fresh] + first_user)
        drawn_items.append(item[fresh])
        known = np.sort(np.concatenate([known, keys[fresh]]), kind="stable")  # merges two runs
        counts += np.bincount(local[fresh], minlength=len(wanted))
        shortfall = wanted - counts
        if not shortfall.any():
            break
    return np.concatenate(users), np.concatenate(drawn_items)


def _in_sorted(sorted_keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per value: does it occur in ``sorted_keys`` (ascending)?"""
    if not len(sorted_keys):
        return np.zeros(len(values), dtype=bool)
    position = np.searchsorted(sorted_keys, values).clip(max=len(sorted_keys) - 1)
    return sorted_keys[position] == values


def _zipf(n: int, exponent: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    return weights / weights.sum()


def _check(**sizes: int) -> None:
    for name, value in sizes.items():
        check_count(f"synthetic.{name}", value)
