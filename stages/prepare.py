"""Parse one dataset's raw files into canonical tables and the paper's train/validation/test split.

    python stages/prepare.py DATASET

Reads ``data.sources.DATASET``, ``data.options.DATASET``, ``data.seed``, ``data.test_fraction`` and
``data.val_fraction``. Checks the raw files against their pinned digests again, and every value in them.
Writes ``data/prepared/DATASET/`` (ratings, items, train, val, test parquet and meta.json, with the raw
files as read: all or nothing) and the small metrics file ``metrics/DATASET/data.json``.
"""

import argparse
import logging
import time

from common import LAYOUT, load_params, main_guard

from divlib.io import atomic_path, write_json
from divlib.similarity import GroupedDistance
from divlib.study.data import canonicalize, category_matrix, dataset_meta, split_ratings
from divlib.study.data.registry import parse_raw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    dataset = parser.parse_args().dataset
    data = load_params().data
    raw_dir = LAYOUT.raw(dataset)
    start = time.perf_counter()
    logging.info("parsing %s", raw_dir)
    raw, report = parse_raw(
        dataset,
        source=data.sources[dataset],
        raw_dir=raw_dir,
        manual_dir=LAYOUT.manual(dataset),
        options=data.options.get(dataset) or {},
    )
    ratings, items = canonicalize(raw, source=str(raw_dir))
    logging.info("splitting %d ratings of %d users", len(ratings), ratings["user"].n_unique())
    train, val, test, counts = split_ratings(
        ratings,
        test_fraction=data.test_fraction,
        val_fraction=data.val_fraction,
        seed=data.seed,
    )
    distance = GroupedDistance.from_categories(category_matrix(items)[0])
    meta = {"dataset": dataset, "source": data.sources[dataset]}
    meta |= dataset_meta(ratings, items, distance) | {"split": counts} | report
    tables = {"ratings": ratings, "items": items, "train": train, "val": val, "test": test}
    with atomic_path(LAYOUT.prepared(dataset)) as out:
        out.mkdir()
        for name, table in tables.items():
            table.write_parquet(out / f"{name}.parquet")
        write_json(meta, out / "meta.json")
    summary = {
        key: meta[key] for key in ("users", "items", "ratings", "categories", "catalogue_dro")
    }
    write_json(summary, LAYOUT.metrics(dataset, "data"))
    logging.info("%s: %s in %.1f s", dataset, summary, time.perf_counter() - start)


if __name__ == "__main__":
    main_guard(main)
