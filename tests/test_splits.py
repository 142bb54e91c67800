import polars as pl
import pytest

from divlib.errors import DivlibError
from divlib.study.data import split_ratings


def ratings_with_counts(counts: dict[int, int]) -> pl.DataFrame:
    rows = [(user, item, 3.0, None) for user, n in counts.items() for item in range(n)]
    return pl.DataFrame(
        rows,
        schema={"user": pl.Int32, "item": pl.Int32, "rating": pl.Float32, "timestamp": pl.Int64},
        orient="row",
    )


def keys(frame: pl.DataFrame) -> set[tuple[int, int]]:
    return set(frame.select("user", "item").rows())


def test_parts_are_disjoint_and_cover_every_rating():
    ratings = ratings_with_counts({0: 10, 1: 25, 2: 7, 3: 1, 4: 2, 5: 3})
    train, val, test, counts = split_ratings(ratings, test_fraction=0.2, val_fraction=0.2, seed=1)
    assert (
        not keys(train) & keys(val) and not keys(train) & keys(test) and not keys(val) & keys(test)
    )
    assert keys(train) | keys(val) | keys(test) == keys(ratings)
    assert (counts["train"], counts["val"], counts["test"]) == (len(train), len(val), len(test))


@pytest.mark.parametrize(
    ("n", "n_test", "n_val"),
    [
        (10, 2, 2),  # round(2.0) = 2, round(0.2 · 8 = 1.6) = 2
        (25, 5, 4),  # 5, round(4.0) = 4
        (7, 1, 1),  # round(1.4) = 1, round(1.2) = 1
        (3, 1, 0),  # round(0.6) = 1, round(0.4) = 0
        (2, 0, 0),  # round(0.4) = 0: the user keeps both in train
        (1, 0, 0),
    ],
)
def test_per_user_counts_follow_the_rounding_rule(n, n_test, n_val):
    train, val, test, _ = split_ratings(
        ratings_with_counts({7: n}), test_fraction=0.2, val_fraction=0.2, seed=3
    )
    assert (len(test), len(val), len(train)) == (n_test, n_val, n - n_test - n_val)


@pytest.mark.parametrize(
    ("test_fraction", "val_fraction", "n_test", "n_val"),
    [
        (0.3, 0.1, 6, 1),  # 20 ratings: round(6.0) = 6 to test, round(0.1 · 14 = 1.4) = 1 to val
        (0.1, 0.3, 2, 5),  # round(2.0) = 2, round(0.3 · 18 = 5.4) = 5: swapped fractions differ
    ],
)
def test_each_fraction_goes_to_its_own_part(test_fraction, val_fraction, n_test, n_val):
    train, val, test, _ = split_ratings(
        ratings_with_counts({4: 20}), test_fraction=test_fraction, val_fraction=val_fraction, seed=2
    )
    assert (len(test), len(val), len(train)) == (n_test, n_val, 20 - n_test - n_val)


def test_users_too_small_to_split_are_kept_and_counted():
    ratings = ratings_with_counts({0: 10, 1: 1, 2: 2, 3: 3})
    train, _, _, counts = split_ratings(ratings, test_fraction=0.2, val_fraction=0.2, seed=1)
    assert set(train["user"].to_list()) == {0, 1, 2, 3}
    assert counts["users_without_test"] == 2 and counts["users_without_val"] == 3


def test_split_is_deterministic_per_seed_and_stratified():
    ratings = ratings_with_counts({u: 20 + u for u in range(30)})
    first = split_ratings(ratings, test_fraction=0.2, val_fraction=0.2, seed=5)
    again = split_ratings(ratings, test_fraction=0.2, val_fraction=0.2, seed=5)
    other = split_ratings(ratings, test_fraction=0.2, val_fraction=0.2, seed=6)
    assert all(a.equals(b) for a, b in zip(first[:3], again[:3], strict=True))
    assert keys(first[2]) != keys(other[2])
    per_user = first[2].group_by("user").len().sort("user")["len"].to_list()
    assert per_user == [round(0.2 * (20 + u)) for u in range(30)]  # 20 % of every user


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"test_fraction": 1.5}, r"data.test_fraction must lie in \[0, 1\); params.yaml has 1.5"),
        ({"val_fraction": -0.1}, r"data.val_fraction must lie in \[0, 1\)"),
        ({"seed": -1}, "data.seed must be an int >= 0"),
    ],
)
def test_bad_split_parameters_are_named(kwargs, message):
    arguments = {"test_fraction": 0.2, "val_fraction": 0.2, "seed": 1} | kwargs
    with pytest.raises(DivlibError, match=message):
        split_ratings(ratings_with_counts({0: 5}), **arguments)
