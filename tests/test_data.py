import polars as pl
import pytest
import raw_formats as rf
import torch

from divlib import jaccard_distance, load_distance, save_distance
from divlib.errors import DivlibError
from divlib.io import atomic_path, file_digest
from divlib.similarity import GroupedDistance
from divlib.study.data import RawTables, canonicalize, catalogue_diversity, category_matrix
from divlib.study.data.handplaced import parse_netflix, parse_yahoo_r2
from divlib.study.data.parsers import (
    parse_coat,
    parse_kuairec,
    parse_ml1m,
    parse_ml100k_grouplens,
    parse_ml100k_recbole,
)
from divlib.study.data.registry import dataset_spec, fetch_raw
from divlib.study.data.sources import PinnedFile, fetch_url


def test_both_ml100k_sources_give_the_same_canonical_tables(tmp_path):
    recbole = canonicalize(parse_ml100k_recbole(*rf.write_recbole_ml100k(tmp_path)), source="rb")
    grouplens = canonicalize(
        parse_ml100k_grouplens(rf.write_grouplens_ml100k(tmp_path)), source="gl"
    )
    for left, right in zip(recbole, grouplens, strict=True):
        assert left.equals(right)
    ratings, items = recbole
    # original user ids 1, 2, 3, 10 are ordered numerically (lexicographic order would put 10 second)
    assert ratings.filter(pl.col("user") == 3)["rating"].to_list() == [5.0, 3.0]
    assert items["title"].to_list()[:3] == ["Toy Story (1995)", "GoldenEye (1995)", "Crème fraîche"]
    assert items["categories"][4].to_list() == ["Drama", "Romance", "War"]
    assert ratings.schema == {
        "user": pl.Int32,
        "item": pl.Int32,
        "rating": pl.Float32,
        "timestamp": pl.Int64,
    }


def test_ml1m_keeps_every_rating_and_only_rated_movies(tmp_path):
    ratings, items = canonicalize(parse_ml1m(rf.write_ml1m(tmp_path / "ml-1m.zip")), source="ml-1m")
    assert len(ratings) == 4  # the last line too (the paper's loader dropped it)
    assert items["original_id"].to_list() == ["661", "1193", "3408"]  # 2571 and 3000 have no rating
    assert items["categories"][0].to_list() == ["Animation", "Children's", "Musical"]


def test_coat_reads_the_matrix_and_attributes(tmp_path):
    raw = parse_coat(rf.write_coat(tmp_path / "coat.zip"))
    ratings, items = canonicalize(raw, source="coat")
    # train.ascii rows "0 3 0" and "5 0 1": (user 0, item 1) = 3, (1, 0) = 5, (1, 2) = 1
    assert ratings.select("user", "item", "rating").rows() == [
        (0, 1, 3.0),
        (1, 0, 5.0),
        (1, 2, 1.0),
    ]
    assert items["categories"].to_list() == [["attribute_00", "attribute_03"], ["attribute_01"], []]
    assert ratings["timestamp"].null_count() == 3


def test_kuairec_maps_watch_ratio_to_stars(tmp_path):
    raw = parse_kuairec(rf.write_kuairec(tmp_path / "KuaiRec.zip"))
    # 1 + 2·ratio, clipped to [1, 5], rounded half to even:
    # 0.722 → 2.444 → 2; 1.907 → 4.814 → 5; 0.0 → 1; 3.5 → 5 (clipped); 0.75 → 2.5 → 2 (even)
    assert raw.ratings["rating"].to_list() == [2.0, 5.0, 1.0, 5.0, 2.0]
    assert raw.ratings["timestamp"].to_list() == [
        1593898068,
        1593898080,
        None,
        1593900000,
        1593900001,
    ]
    assert raw.items["categories"].to_list() == [["8"], ["27", "9"]]


def test_netflix_matches_titles_to_movielens_genres(tmp_path):
    movies, ratings, movielens = rf.write_netflix(tmp_path)
    raw, report = parse_netflix(movies, ratings, movielens, users=5, min_ratings=3, seed=1)
    # 4 of 5 movies match: "The Matrix" = "Matrix, The"; "Amélie" 2002 ≈ ML's 2001; one is unknown
    assert report["matched_movies"] == 4 and report["match_rate"] == 0.8
    assert sorted(raw.items["item"].to_list()) == ["1", "2", "3", "5"]
    matrix = raw.items.filter(pl.col("item") == "2")["categories"][0].to_list()
    assert matrix == ["Action", "Sci-Fi", "Thriller"]
    assert report["sampled_users"] == 5
    per_user = raw.ratings.group_by("user").len()
    assert per_user["len"].min() >= 3 and "4" not in raw.ratings["item"].to_list()


def test_yahoo_samples_songs_and_keeps_active_users(tmp_path):
    raw, report = parse_yahoo_r2(*rf.write_yahoo(tmp_path), items=4, min_ratings=4, seed=1)
    assert raw.ratings["item"].n_unique() == 4 == report["sampled_items"]
    assert raw.ratings.group_by("user").len()["len"].min() >= 4
    assert raw.items.filter(pl.col("item") == "5")["categories"][0].to_list() == ["2"]  # 5 % 3


def test_malformed_lines_are_reported_with_file_and_line(tmp_path):
    inter, item = rf.write_recbole_ml100k(tmp_path)
    lines = inter.read_text().splitlines()
    inter.write_text("\n".join([*lines[:2], "1\t7\t4", *lines[3:]]) + "\n")
    with pytest.raises(
        DivlibError,
        match=r"ml-100k.inter line 3: 3 fields where 4 tab-separated fields are expected; "
        r"got '1\\t7\\t4'$",
    ):
        parse_ml100k_recbole(inter, item)
    inter.write_text("\n".join([*lines[:4], "1\t7\tfive\t881250949", *lines[5:]]) + "\n")
    with pytest.raises(DivlibError, match=r"ml-100k.inter line 5: rating 'five' is not a number$"):
        parse_ml100k_recbole(inter, item)


def test_checksum_mismatch_names_both_digests_and_removes_the_file(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(b"divlib")
    good = PinnedFile("copy.bin", file_digest(source, "md5"), "md5")
    destination = tmp_path / "raw" / "copy.bin"
    manual = tmp_path / "manual"
    assert fetch_url(source.as_uri(), destination, good, manual_dir=manual) == good.digest
    assert destination.read_bytes() == b"divlib"
    destination.unlink()
    bad = PinnedFile("copy.bin", "0" * 32, "md5")
    with pytest.raises(
        DivlibError, match=rf"copy.bin: md5 is {good.digest} but 0{{32}} was expected"
    ):
        fetch_url(source.as_uri(), destination, bad, manual_dir=manual)
    assert not destination.exists() and list((tmp_path / "raw").iterdir()) == []


def test_missing_hand_placed_files_are_listed_with_their_source(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    (manual / "Netflix_Dataset_Movie.csv").write_text("Movie_ID,Year,Name\n")
    with pytest.raises(
        DivlibError, match=r"^missing raw file\(s\) \S*manual/Netflix_Dataset_Rating.csv: .*kaggle"
    ):
        fetch_raw(
            "netflix",
            source="kaggle",
            raw_dir=tmp_path / "raw",
            manual_dir=manual,
            options={"users": 5, "min_ratings": 1, "seed": 1},
        )


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(DivlibError, match="known datasets: ml-100k, ml-1m, coat, kuairec, netflix"):
        dataset_spec("movielens")
    with pytest.raises(DivlibError, match="ml-100k has sources: package-mirror, grouplens"):
        fetch_raw("ml-100k", source="s3", raw_dir=None, manual_dir=None, options={})


def test_canonicalize_rejects_duplicates_and_unknown_items():
    items = pl.DataFrame(
        {"item": ["a"], "title": [None], "categories": [["x"]]},
        schema_overrides={"title": pl.String},
    )
    ratings = pl.DataFrame(
        {"user": ["u", "u"], "item": ["a", "a"], "rating": [1.0, 2.0], "timestamp": [None, None]},
        schema_overrides={"timestamp": pl.Int64},
    )
    with pytest.raises(DivlibError, match="2 ratings share their .user, item. pair"):
        canonicalize(RawTables(ratings, items), source="f")
    with pytest.raises(DivlibError, match="1 rated item.* no entry in the item file .first: b"):
        canonicalize(RawTables(ratings.head(1).with_columns(item=pl.lit("b")), items), source="f")


def test_catalogue_diversity_is_the_mean_over_distinct_pairs(tmp_path):
    _, items = canonicalize(parse_ml100k_recbole(*rf.write_recbole_ml100k(tmp_path)), source="rb")
    matrix, names = category_matrix(items)
    assert names == sorted({g for _, _, _, genres in rf.ML100K_MOVIES for g in genres})
    dense = jaccard_distance(matrix.double())
    expected = sum(dense[i, j].item() for i in range(5) for j in range(5) if i != j) / 20
    grouped = GroupedDistance.from_categories(matrix.double())
    assert catalogue_diversity(grouped) == pytest.approx(expected)


def test_distance_round_trip_and_corrupt_file(tmp_path):
    categories = (torch.rand(30, 6, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    distance = GroupedDistance.from_categories(categories)
    save_distance(distance, tmp_path / "distance.pt", [f"c{j}" for j in range(6)])
    loaded = load_distance(tmp_path / "distance.pt")
    assert torch.equal(loaded.dense(), distance.dense())
    (tmp_path / "bad.pt").write_bytes(b"not a torch file")
    with pytest.raises(DivlibError, match="bad.pt: not a divlib distance file"):
        load_distance(tmp_path / "bad.pt")


def test_atomic_path_leaves_nothing_when_interrupted(tmp_path):
    target = tmp_path / "out" / "table.parquet"
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as temporary:
        temporary.write_text("half")
        raise KeyboardInterrupt
    assert list((tmp_path / "out").iterdir()) == []
    with atomic_path(target) as temporary:
        temporary.write_text("whole")
    assert target.read_text() == "whole" and len(list((tmp_path / "out").iterdir())) == 1
