"""Pieces shared by the training loops: the epoch skeleton, results, evaluation, the divergence checks,
progress in the log."""

import copy
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from divlib.errors import TrainingDiverged
from divlib.train.interactions import Interactions

EVAL_CHUNK = 1 << 20  # ratings per forward pass when evaluating
EXPLOSION = 10.0  # an MSE above this many times the reference (explosion_limit) ends a run
EPOCH_LOG_SECONDS = 10.0  # a run logs an epoch at INFO at most this often, the others at DEBUG
SHOWN = {"val_mse": "val MSE", "dro": "DRO@k"}  # the epoch summary's values in a progress line

log = logging.getLogger(__name__)

# a step's loss (finite, or the run diverged) and its logged record
Step = tuple[torch.Tensor, dict]


@dataclass
class TrainResult:
    """What a run leaves: the final and the selected state, its per-step and per-epoch records (one
    dict each, e.g. ``polars.DataFrame(result.steps)``), and each step's wall time in seconds (kept
    apart from the records: the one value that differs between two runs of the same seed)."""

    final_state: dict
    selected_state: dict
    selected_epoch: int
    steps: list[dict]
    epochs: list[dict]
    step_seconds: list[float] = field(default_factory=list)


def run_epochs(
    model: nn.Module,
    *,
    epochs: int,
    steps: Callable[[], Iterator[Step]],
    summarize: Callable[[list[dict]], dict],
    objective: str,
    select: str = "best",
    maximize: bool = False,
    patience: int | None = None,
    start_is_good: bool = False,
    mse_limit: float | None = None,
    name: str = "run",
) -> TrainResult:
    """The loop both trainings share: epochs of steps, a summary per epoch, a snapshot, a selection.

    Args:
        steps: runs one epoch's steps (the model in train mode), yielding each step's loss and record;
            a step whose loss is not finite must leave the model unchanged. Each step's wall time
            goes to the result's ``step_seconds``, not to its record.
        summarize: the epoch's summary (model in eval mode) from its step records.
        objective: the summary key that ``select="best"`` minimises (``maximize``: maximises);
            ``"last"`` keeps the last epoch.
        patience: stop after this many epochs without a better ``objective`` (early stopping); None
            runs every epoch.
        start_is_good: the model's initial state is a checkpoint to fall back on (fine-tuning).
        mse_limit: a step's ``mse`` or the summary's ``val_mse`` above which the run has exploded
            (:func:`explosion_limit`).
        name: the run, in log lines and errors. Each epoch is logged (:func:`epoch_line`), at INFO at
            most every :data:`EPOCH_LOG_SECONDS`, otherwise at DEBUG.

    Raises:
        TrainingDiverged: a step's loss is NaN or Inf, or a step's MSE or the validation MSE is not
            finite or above ``mse_limit``; it names the run, step or epoch, and carries the last
            snapshot.
    """
    records, summaries, seconds = [], [], []
    sign = -1.0 if maximize else 1.0
    best = (float("inf"), 0, snapshot(model))
    last_good, step = (snapshot(model) if start_is_good else None), 0
    start = logged = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        epoch_records = []
        step_start = time.perf_counter()
        for loss, record in steps():
            step += 1
            now = time.perf_counter()
            seconds.append(now - step_start)
            step_start = now
            check_finite(loss, name=name, step=step, epoch=epoch, last_good=last_good)
            if mse_limit is not None:
                what = f"the training MSE of step {step} (epoch {epoch})"
                check_below(
                    record["mse"], mse_limit, what, name=name, step=step, last_good=last_good
                )
            epoch_records.append({"step": step, "epoch": epoch} | record)
        records += epoch_records
        model.eval()
        summary = {"epoch": epoch} | summarize(epoch_records)
        if mse_limit is not None:
            what = f"the validation MSE after epoch {epoch}"
            check_below(
                summary["val_mse"], mse_limit, what, name=name, step=step, last_good=last_good
            )
        summaries.append(summary)
        last_good = snapshot(model)
        now = time.perf_counter()
        loud = now - logged >= EPOCH_LOG_SECONDS
        logged = now if loud else logged
        line = epoch_line(name, summary, epochs, now - start, at_most=patience is not None)
        log.log(logging.INFO if loud else logging.DEBUG, "%s", line)
        if sign * summary[objective] < best[0]:
            best = (sign * summary[objective], epoch, last_good)
        elif patience is not None and epoch - best[1] >= patience:
            break
    selected = best if select == "best" else (None, epoch, last_good)
    return TrainResult(
        final_state=last_good,
        selected_state=selected[2],
        selected_epoch=selected[1],
        steps=records,
        epochs=summaries,
        step_seconds=seconds,
    )


@torch.no_grad()
def mean_squared_error(model: nn.Module, data: Interactions) -> float:
    """MSE of ``model`` on every rating of ``data``, in chunks."""
    total = 0.0
    for start in range(0, len(data), EVAL_CHUNK):
        part = slice(start, start + EVAL_CHUNK)
        error = model(data.users[part], data.items[part]) - data.ratings[part]
        total += float((error**2).sum())
    return total / max(len(data), 1)


def snapshot(model: nn.Module) -> dict:
    """A detached copy of the model's state, on the CPU."""
    return {name: value.detach().cpu().clone() for name, value in model.state_dict().items()}


@torch.no_grad()
def explosion_limit(model: nn.Module, data: Interactions) -> float:
    """The MSE above which a run has exploded: :data:`EXPLOSION` times the larger of the model's MSE
    on ``data`` (the validation ratings) now and their mean square (the MSE of predicting 0, which a
    model that is merely untrained or collapsed does not exceed)."""
    model.eval()
    mean_square = float((data.ratings.double() ** 2).mean()) if len(data) else 0.0
    return EXPLOSION * max(mean_squared_error(model, data), mean_square)


def check_finite(
    loss: torch.Tensor, *, name: str, step: int, epoch: int, last_good: dict | None
) -> None:
    """Stop a run whose loss is NaN or Inf, naming the run, the step and its epoch."""
    if not torch.isfinite(loss):
        raise TrainingDiverged(
            f"{name}: the loss is {float(loss)} at step {step} (epoch {epoch}); lower the learning "
            "rate or check the data",
            step=step,
            last_good=copy.deepcopy(last_good),
        )


def check_below(
    value: float, limit: float, what: str, *, name: str, step: int, last_good: dict | None
) -> None:
    """Stop a run whose MSE (``what``) is NaN, Inf or above ``limit`` (:func:`explosion_limit`)."""
    if not value <= limit:
        raise TrainingDiverged(
            f"{name}: {what} is {value:.3g}, above {limit:.3g} ({EXPLOSION:g} × the larger of the "
            "validation MSE at the start and the mean squared rating); lower the learning rate or "
            "check the data",
            step=step,
            last_good=copy.deepcopy(last_good),
        )


def epoch_line(name: str, summary: dict, epochs: int, elapsed: float, *, at_most: bool) -> str:
    """``ddt-beta0.2-seed1: epoch 3/20, val MSE 0.912, DRO@k 0.801, 6.2 s (ETA 41 s)``; the ETA of a
    run that may stop early (``at_most``) is an upper bound (``ETA ≤ 41 s``)."""
    epoch = summary["epoch"]
    values = "".join(
        f", {label} {summary[key]:.4g}" for key, label in SHOWN.items() if key in summary
    )
    line = f"{name}: epoch {epoch}/{epochs}{values}, {elapsed:.1f} s"
    if epoch < epochs:
        bound = "≤ " if at_most else ""
        line += f" (ETA {bound}{duration(elapsed / epoch * (epochs - epoch))})"
    return line


def duration(seconds: float) -> str:
    """``41 s``, ``4 min``, ``2.5 h``: a duration, as precise as an estimate is."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"
