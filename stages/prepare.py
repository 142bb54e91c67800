"""Parse one dataset's raw files into canonical tables and the paper's train/validation/test split.

    python stages/prepare.py DATASET

Reads ``data.sources.DATASET``, ``data.options.DATASET``, ``data.seed``, ``data.test_fraction`` and
``data.val_fraction``. Checks the raw files against their pinned digests again, and every value in them.
Writes ``data/prepared/DATASET/`` (ratings, items, train, val, test parquet and meta.json, with the raw
files as read: all or nothing) and the small metrics file ``metrics/DATASET/data.json``
(:func:`divlib.study.data.prepare.prepare_dataset`).
"""

import argparse

from divlib.study.cli import dataset_argument, load_params, main_guard
from divlib.study.data.prepare import prepare_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    dataset_argument(parser)
    dataset = parser.parse_args().dataset
    prepare_dataset(dataset, load_params().data)


if __name__ == "__main__":
    main_guard(main)
