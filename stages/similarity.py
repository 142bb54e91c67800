"""Build and save the item distance of one dataset: Jaccard over category sets, in grouped form.

    python stages/similarity.py DATASET

Reads ``data/prepared/DATASET/items.parquet``. Writes ``data/similarity/DATASET/distance.pt`` (load it with
``divlib.load_distance``) and the small metrics file ``metrics/DATASET/similarity.json``.
"""

import argparse
import logging
import time

import polars as pl
from common import LAYOUT, main_guard

from divlib.io import write_json
from divlib.similarity import GroupedDistance, save_distance
from divlib.study.data import catalogue_diversity, category_matrix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    dataset = parser.parse_args().dataset
    start = time.perf_counter()
    items = pl.read_parquet(LAYOUT.items(dataset))
    categories, names = category_matrix(items)
    distance = GroupedDistance.from_categories(categories)
    save_distance(distance, LAYOUT.distance(dataset), names)
    summary = {
        "items": distance.n_items,
        "category_sets": distance.n_groups,
        "catalogue_dro": round(catalogue_diversity(distance), 6),
    }
    write_json(summary, LAYOUT.metrics(dataset, "similarity"))
    logging.info("%s: %s in %.1f s", dataset, summary, time.perf_counter() - start)


if __name__ == "__main__":
    main_guard(main)
