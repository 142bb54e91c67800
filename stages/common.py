"""Plumbing shared by the stage scripts: their params section, logging, and one-line errors.

The library (divlib) never reads params.yaml; stages read their own section here and pass plain values.
"""

import logging
import sys
from collections.abc import Callable
from pathlib import Path

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
