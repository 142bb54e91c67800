"""The ``prepare`` stage's work: one dataset's raw files as canonical tables and the paper's split."""

import logging
import time

from divlib.io import atomic_path, write_json
from divlib.similarity import GroupedDistance
from divlib.study.data.canonical import canonicalize, category_matrix, dataset_meta
from divlib.study.data.registry import parse_raw
from divlib.study.data.splits import split_ratings
from divlib.study.layout import HERE, Layout
from divlib.study.params import Data

log = logging.getLogger(__name__)


def prepare_dataset(dataset: str, section: Data, *, layout: Layout = HERE) -> None:
    """Parse the raw files of ``dataset`` (:func:`~divlib.study.data.registry.parse_raw`: checked
    against their pinned digests again, and every value in them) into canonical tables, and split
    the ratings per user (``section``: the split's seed and fractions, the dataset's source and
    options). Writes ``data/prepared/D/`` (ratings, items, train, val, test parquet and meta.json,
    with the raw files as read: all or nothing) and the small metrics file
    ``metrics/D/data.json``."""
    source, options = section.sources[dataset], section.options.get(dataset) or {}
    raw_dir = layout.raw(dataset)
    start = time.perf_counter()
    log.info("parsing %s", raw_dir)
    raw, report = parse_raw(
        dataset, source=source, raw_dir=raw_dir, manual_dir=layout.manual(dataset), options=options
    )
    ratings, items = canonicalize(raw, source=str(raw_dir))
    log.info("splitting %d ratings of %d users", len(ratings), ratings["user"].n_unique())
    train, val, test, counts = split_ratings(
        ratings,
        test_fraction=section.test_fraction,
        val_fraction=section.val_fraction,
        seed=section.seed,
    )
    distance = GroupedDistance.from_categories(category_matrix(items)[0])
    meta = {"dataset": dataset, "source": source}
    meta |= dataset_meta(ratings, items, distance) | {"split": counts} | report
    tables = {"ratings": ratings, "items": items, "train": train, "val": val, "test": test}
    with atomic_path(layout.prepared(dataset)) as out:
        out.mkdir()
        for name, table in tables.items():
            table.write_parquet(out / f"{name}.parquet")
        write_json(meta, out / "meta.json")
    summary = {
        key: meta[key] for key in ("users", "items", "ratings", "categories", "catalogue_dro")
    }
    write_json(summary, layout.metrics(dataset, "data"))
    log.info("%s: %s in %.1f s", dataset, summary, time.perf_counter() - start)
