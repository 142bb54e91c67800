"""Build and save the item distance of one dataset: Jaccard over category sets, in grouped form.

    python stages/similarity.py DATASET

Reads ``data/prepared/DATASET/items.parquet``. Writes ``data/similarity/DATASET/distance.pt`` (load it with
``divlib.load_distance``) and the small metrics file ``metrics/DATASET/similarity.json``
(:func:`divlib.study.data.canonical.build_similarity`).
"""

import argparse

from divlib.study.cli import dataset_argument, main_guard
from divlib.study.data.canonical import build_similarity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    dataset_argument(parser)
    build_similarity(parser.parse_args().dataset)


if __name__ == "__main__":
    main_guard(main)
