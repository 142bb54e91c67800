"""Plumbing shared by the stage scripts: params.yaml, checked; the file layout; one-line errors.

The library (divlib) never reads params.yaml; stages read it here, validated by :mod:`divlib.study.params`, and
pass plain values and option objects on.
"""

import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import yaml

from divlib.errors import DivlibError, TrainingDiverged
from divlib.io import write_json
from divlib.study.layout import Layout
from divlib.study.params import Params, parse_params

PARAMS = Path("params.yaml")
LAYOUT = Layout()


def load_params(path: Path = PARAMS) -> Params:
    """params.yaml, every section checked (unknown or missing keys, bounds) before any work starts."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise DivlibError(
            f"{path}: cannot be read as YAML ({error}); restore it from git"
        ) from None
    return parse_params(data, source=str(path))


@contextmanager
def learning_rate_named(setting: str, value: float) -> Iterator[None]:
    """Name the params.yaml learning rate (``setting``) in a TrainingDiverged raised inside."""
    try:
        yield
    except TrainingDiverged as error:
        raise TrainingDiverged(
            f"{error} (the learning rate is {setting} = {value} in params.yaml)",
            step=error.step,
            last_good=error.last_good,
        ) from None


def main_guard(main: Callable[[], None]) -> None:
    """Run a stage's ``main``: log steps and the stage's wall time to stderr; a DivlibError, or an input
    that is missing (the stage was run before the ones that write it), prints one line and exits 1.

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
    except DivlibError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except FileNotFoundError as error:  # polars names the path only in its message
        missing = error.filename or str(error).rsplit(": ", 1)[-1]
        print(f"error: {missing} is missing: run dvc repro, which builds what this stage needs "
              "first, or restore it with git checkout if git tracks it", file=sys.stderr)  # fmt: skip
        sys.exit(1)
    except KeyboardInterrupt as interruption:
        received = signal.Signals.__members__.get(str(interruption), signal.SIGINT)
        print(f"interrupted by {received.name}: outputs not yet complete were removed",
              file=sys.stderr)  # fmt: skip
        sys.exit(128 + received)


def record_stage_time(stage: str, seconds: float) -> None:
    """Append the stage's wall time to ``times/stages.jsonl`` (outside git and DVC's outputs); once
    per stage under torchrun (rank 0). A time that cannot be written is a warning, never a failure
    of a stage whose outputs are complete."""
    if os.environ.get("RANK", "0") != "0":
        return
    path = LAYOUT.stage_times()
    line = {"stage": stage, "seconds": round(seconds, 1),
            "ended": datetime.now(UTC).isoformat(timespec="seconds")}  # fmt: skip
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as file:
            file.write(json.dumps(line) + "\n")
    except OSError as error:
        logging.warning("the stage's time was not recorded in %s (%s)", path, error)


def record_run_times(times: dict, path: Path) -> None:
    """Write runs' times (:func:`divlib.study.experiment.run_times`) to ``path`` under ``times/``; a time
    that cannot be written is a warning, never a failure of a stage whose outputs are complete."""
    try:
        write_json(times, path)
    except OSError as error:
        logging.warning("the runs' times were not recorded in %s (%s)", path, error)


def _interrupt(number: int, _frame) -> None:
    """SIGTERM's handler: a KeyboardInterrupt that names the signal."""
    raise KeyboardInterrupt(signal.Signals(number).name)
