"""What a stage script needs around its one library call: params.yaml, checked; one-line errors; the
stage's wall time.

The method library never reads params.yaml; a stage (``stages/*.py``) reads it here, validated by
:mod:`divlib.study.params`, and passes the sections it reads on to one function of the study.
"""

import argparse
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import yaml

from divlib.errors import DivlibError, UnreadableFile
from divlib.study.data.registry import DATASETS
from divlib.study.layout import HERE, Layout
from divlib.study.params import Params, parse_params

PARAMS = Path("params.yaml")


def load_params(path: Path = PARAMS) -> Params:
    """params.yaml, every section checked (unknown or missing keys, bounds) before any work starts."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise DivlibError(
            f"{path}: cannot be read as YAML ({error}); restore it from git"
        ) from None
    return parse_params(data, source=str(path))


def dataset_argument(parser: argparse.ArgumentParser) -> None:
    """The stage's DATASET argument: one of the datasets divlib knows (else argparse's one line
    listing them, exit 2)."""
    parser.add_argument(
        "dataset", choices=DATASETS, metavar="DATASET", help="a dataset of params.yaml's datasets"
    )


def main_guard(main: Callable[[], None]) -> None:
    """Run a stage's ``main``: log steps and the stage's wall time to stderr; a DivlibError, or an input
    that is missing (the stage was run before the ones that write it), prints one line and exits 1.
    A file that is there but cannot be read (:class:`~divlib.errors.UnreadableFile`) names the stage
    that writes it (:meth:`~divlib.study.layout.Layout.writer`).

    SIGTERM (as ``kill`` or a job scheduler sends) is raised as KeyboardInterrupt, as Ctrl-C is, so
    that what was being written is removed (:func:`divlib.io.atomic_path`) and the workers stop; either
    prints one line and exits 128 + the signal's number.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    signal.signal(signal.SIGTERM, _interrupt)
    start = time.perf_counter()
    try:
        main()
        stage = " ".join([Path(sys.argv[0]).stem, *sys.argv[1:]])
        seconds = time.perf_counter() - start
        logging.info("stage %s done in %.1f s", stage, seconds)
        record_stage_time(stage, seconds)
    except UnreadableFile as error:
        stage = HERE.writer(error.path)
        fix = f"the {stage} stage that writes it" if stage else "the stage that writes it"
        print(
            f"error: {error.path}: {error.problem}; it is damaged: run dvc repro, which reruns {fix}",
            file=sys.stderr,
        )
        sys.exit(1)
    except DivlibError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except FileNotFoundError as error:  # polars names the path only in its message
        missing = error.filename or str(error).rsplit(": ", 1)[-1]
        print(
            f"error: {missing} is missing: run dvc repro, which builds what this stage needs "
            "first, or restore it with git checkout if git tracks it",
            file=sys.stderr,
        )
        sys.exit(1)
    except KeyboardInterrupt as interruption:
        received = signal.Signals.__members__.get(str(interruption), signal.SIGINT)
        print(
            f"interrupted by {received.name}: outputs not yet complete were removed",
            file=sys.stderr,
        )
        sys.exit(128 + received)


def record_stage_time(stage: str, seconds: float, *, layout: Layout = HERE) -> None:
    """Append the stage's wall time to ``times/stages.jsonl`` (outside git and DVC's outputs); once
    per stage under torchrun (rank 0). A time that cannot be written is a warning, never a failure
    of a stage whose outputs are complete."""
    if os.environ.get("RANK", "0") != "0":
        return
    path = layout.stage_times()
    line = {
        "stage": stage,
        "seconds": round(seconds, 1),
        "ended": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as file:
            file.write(json.dumps(line) + "\n")
    except OSError as error:
        logging.warning("the stage's time was not recorded in %s (%s)", path, error)


def _interrupt(number: int, _frame) -> None:
    """SIGTERM's handler: a KeyboardInterrupt that names the signal."""
    raise KeyboardInterrupt(signal.Signals(number).name)
