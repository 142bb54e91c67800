"""Fetch the raw files of one dataset and verify them against their pinned digests.

    python stages/download.py DATASET

Reads ``data.sources.DATASET`` and ``data.options.DATASET`` from params.yaml; hand-placed files are taken
from ``data/manual/DATASET/``, and so is a file that cannot be downloaded, once the user puts it there
(under the name the error gives) and it matches its pinned digest. Writes ``data/raw/DATASET/`` (all or
nothing) with ``digests.json``.
"""

import argparse
import logging
import time

from common import LAYOUT, load_params, main_guard

from divlib.io import atomic_path, write_json
from divlib.study.data.registry import fetch_raw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    dataset = parser.parse_args().dataset
    data = load_params().data
    source, options = data.sources[dataset], data.options.get(dataset) or {}
    start = time.perf_counter()
    with atomic_path(LAYOUT.raw(dataset)) as raw_dir:
        logging.info("fetching %s from %s", dataset, source)
        digests = fetch_raw(
            dataset,
            source=source,
            raw_dir=raw_dir,
            manual_dir=LAYOUT.manual(dataset),
            options=options,
        )
        write_json(
            {"dataset": dataset, "source": source, "files": digests}, raw_dir / "digests.json"
        )
    logging.info(
        "%s: %d verified files in %.1f s", dataset, len(digests), time.perf_counter() - start
    )


if __name__ == "__main__":
    main_guard(main)
