"""Datasets: the registry of raw sources, parsers to canonical tables, the paper's splits, and a
synthetic generator. See :mod:`divlib.data.registry` for the datasets and their sources."""

from divlib.data.canonical import canonicalize, catalogue_diversity, category_matrix, dataset_meta
from divlib.data.parsers import RawTables
from divlib.data.registry import DATASETS, DatasetSpec, dataset_spec
from divlib.data.splits import split_ratings
from divlib.data.synthetic import synthetic_ratings

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
