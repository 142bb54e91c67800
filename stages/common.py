"""Plumbing shared by the stage scripts: their params section, logging, and one-line errors.

The library (divlib) never reads params.yaml; stages read their own section here and pass plain values.
"""

import hashlib
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import torch
import yaml

from divlib.errors import DivlibError

PARAMS = Path("params.yaml")


def read_params(*keys: str, path: Path = PARAMS):
    """The value at ``keys`` in params.yaml, e.g. ``read_params("data", "seed")``."""
    node = yaml.safe_load(path.read_text())
    for depth, key in enumerate(keys):
        if not isinstance(node, dict) or key not in node:
            raise DivlibError(f"{path}: key {'.'.join(keys[: depth + 1])} is missing")
        node = node[key]
    return node


def main_guard(main: Callable[[], None]) -> None:
    """Run a stage's ``main``: log steps to stderr; a DivlibError prints one line and exits 1."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    try:
        main()
    except DivlibError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


def derive_seed(root: int, *identity: object) -> int:
    """A run's seed from the stage seed and the run's identity (stable across processes and machines:
    a digest of the strings, never Python's salted ``hash``), as LensKit's ``make_seed`` does."""
    digest = hashlib.sha256("/".join(map(str, identity)).encode()).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return int(np.random.SeedSequence([root, *words]).generate_state(1)[0])


def resolve_device(requested: str) -> torch.device:
    """``auto``: the first CUDA device if there is one, else the CPU; otherwise the named device."""
    if requested == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(requested)
    logging.info("device: %s", device)
    return device


def load_splits(dataset: str, *names: str) -> list:
    """The prepared splits of ``dataset`` as :class:`divlib.train.Interactions`, in the order named."""
    from divlib.train import Interactions

    folder = Path("data/prepared") / dataset
    meta = json.loads((folder / "meta.json").read_text())
    sizes = {"n_users": meta["users"], "n_items": meta["items"]}
    return [
        Interactions.from_frame(pl.read_parquet(folder / f"{n}.parquet"), **sizes) for n in names
    ]


def load_evaluation(dataset: str):
    """Everything :func:`divlib.evaluation.evaluate_lists` needs for all users of ``dataset``, and the
    ``(n_users, m)`` mask of the items never recommended (rated in training or validation)."""
    from divlib.data import category_matrix
    from divlib.evaluation import EvaluationData
    from divlib.metrics import POSITIVE_RATING
    from divlib.similarity import load_distance

    train, val, test = load_splits(dataset, "train", "val", "test")
    categories, _ = category_matrix(
        pl.read_parquet(Path("data/prepared") / dataset / "items.parquet")
    )
    test_ratings = torch.full((test.n_users, test.n_items), float("nan"))
    test_ratings[test.users, test.items] = test.ratings
    data = EvaluationData(
        distance=load_distance(Path("data/similarity") / dataset / "distance.pt"),
        categories=categories,
        popularity=torch.bincount(train.items, minlength=train.n_items),
        positives=test_ratings >= POSITIVE_RATING,
        test_ratings=test_ratings,
    )
    return data, train.seen() | val.seen()


def long_lists(lists: torch.Tensor) -> pl.DataFrame:
    """``(n_users, K)`` ranked item lists as rows (user, rank, item), rank 1 first."""
    users, length = lists.shape
    return pl.DataFrame({
        "user": torch.arange(users).repeat_interleave(length).numpy(),
        "rank": torch.arange(1, length + 1).repeat(users).numpy(),
        "item": lists.flatten().numpy(),
    })  # fmt: skip
