"""Datasets: the registry of raw sources, parsers to canonical tables, the paper's splits, and a
synthetic generator. See :mod:`divlib.study.data.registry` for the datasets and their sources."""

from divlib.study.data.canonical import (
    canonicalize,
    catalogue_diversity,
    category_matrix,
    dataset_meta,
)
from divlib.study.data.parsers import RawTables
from divlib.study.data.registry import DATASETS, DatasetSpec, dataset_spec
from divlib.study.data.splits import split_ratings
from divlib.study.data.synthetic import synthetic_ratings

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "RawTables",
    "canonicalize",
    "catalogue_diversity",
    "category_matrix",
    "dataset_meta",
    "dataset_spec",
    "split_ratings",
    "synthetic_ratings",
]
