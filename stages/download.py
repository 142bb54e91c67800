"""Fetch the raw files of one dataset and verify them against their pinned digests.

    python stages/download.py DATASET

Reads ``data.sources.DATASET`` and ``data.options.DATASET`` from params.yaml; hand-placed files are taken
from ``data/manual/DATASET/``, and so is a file that cannot be downloaded, once the user puts it there
(under the name the error gives) and it matches its pinned digest. Writes ``data/raw/DATASET/`` (all or
nothing) with ``digests.json`` (:func:`divlib.study.data.registry.download_raw`).
"""

import argparse

from divlib.study.cli import dataset_argument, load_params, main_guard
from divlib.study.data.registry import download_raw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    dataset_argument(parser)
    dataset = parser.parse_args().dataset
    data = load_params().data
    download_raw(dataset, source=data.sources[dataset], options=data.options.get(dataset) or {})


if __name__ == "__main__":
    main_guard(main)
