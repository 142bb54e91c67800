"""A tiny project on disk for the tests that run the study's functions over files."""

import json
from pathlib import Path

from divlib import GroupedDistance, save_distance
from divlib.models import build_model, save_model
from divlib.study.data import canonicalize, category_matrix, split_ratings, synthetic_ratings
from divlib.study.layout import Layout


def synthetic_project(
    root: Path, *, users: int, items: int, ratings: int, categories: int
) -> Layout:
    """Dataset "synthetic" prepared (train, val, test, items, meta.json), its genre distance, and an
    initialised nmf model as the model pretrained with seed 1, under ``root``."""
    layout = Layout(root)
    raw = synthetic_ratings(
        users=users, items=items, ratings=ratings, categories=categories, seed=1
    )
    table, catalogue = canonicalize(raw, source="synthetic")
    train, val, test, _ = split_ratings(table, test_fraction=0.2, val_fraction=0.2, seed=1)
    prepared = layout.prepared("synthetic")
    prepared.mkdir(parents=True)
    for name, split in (("train", train), ("val", val), ("test", test)):
        split.write_parquet(prepared / f"{name}.parquet")
    catalogue.write_parquet(layout.items("synthetic"))
    sizes = {"users": table["user"].max() + 1, "items": catalogue.height}
    layout.meta("synthetic").write_text(json.dumps(sizes))
    matrix, names = category_matrix(catalogue)
    save_distance(GroupedDistance.from_categories(matrix), layout.distance("synthetic"), names)
    config = {
        "n_users": sizes["users"],
        "n_items": sizes["items"],
        "dim": 4,
        "seed": 1,
        "mean": float(train["rating"].mean()),
    }
    model = build_model("nmf", **config)
    save_model(layout.base("synthetic", "nmf", 1), model, name="nmf", config=config)
    return layout
