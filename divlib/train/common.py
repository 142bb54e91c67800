"""Pieces shared by the training loops: the epoch skeleton, results, evaluation, the divergence check."""

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import polars as pl
import torch
from torch import nn

from divlib.errors import TrainingDiverged
from divlib.train.interactions import Interactions

EVAL_CHUNK = 1 << 20  # ratings per forward pass when evaluating

# a step's loss (finite, or the run diverged) and its logged record
Step = tuple[torch.Tensor, dict]


@dataclass
class TrainResult:
    """What a run leaves: the final and the selected state, and its per-step and per-epoch records."""

    final_state: dict
    selected_state: dict
    selected_epoch: int
    steps: pl.DataFrame
    epochs: pl.DataFrame


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
) -> TrainResult:
    """The loop both trainings share: epochs of steps, a summary per epoch, a snapshot, a selection.

    Args:
        steps: runs one epoch's steps (the model in train mode), yielding each step's loss and record;
            a step whose loss is not finite must leave the model unchanged.
        summarize: the epoch's summary (model in eval mode) from its step records.
        objective: the summary key that ``select="best"`` minimises (``maximize``: maximises);
            ``"last"`` keeps the last epoch.
        patience: stop after this many epochs without a better ``objective`` (early stopping); None
            runs every epoch.
        start_is_good: the model's initial state is a checkpoint to fall back on (fine-tuning).

    Raises:
        TrainingDiverged: a step's loss is NaN or Inf; it names the step and carries the last snapshot.
    """
    records, summaries = [], []
    sign = -1.0 if maximize else 1.0
    best = (float("inf"), 0, snapshot(model))
    last_good, step = (snapshot(model) if start_is_good else None), 0
    for epoch in range(1, epochs + 1):
        model.train()
        epoch_records = []
        for loss, record in steps():
            step += 1
            check_finite(loss, step=step, last_good=last_good, epoch=epoch - 1)
            epoch_records.append({"step": step, "epoch": epoch} | record)
        records += epoch_records
        model.eval()
        summary = {"epoch": epoch} | summarize(epoch_records)
        summaries.append(summary)
        last_good = snapshot(model)
        if sign * summary[objective] < best[0]:
            best = (sign * summary[objective], epoch, last_good)
        elif patience is not None and epoch - best[1] >= patience:
            break
    selected = best if select == "best" else (None, epoch, last_good)
    return TrainResult(
        final_state=last_good,
        selected_state=selected[2],
        selected_epoch=selected[1],
        steps=pl.DataFrame(records),
        epochs=pl.DataFrame(summaries),
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


def check_finite(loss: torch.Tensor, *, step: int, last_good: dict | None, epoch: int) -> None:
    """Stop a run whose loss is NaN or Inf, naming the step and the checkpoint that is kept."""
    if not torch.isfinite(loss):
        kept = f"the state after epoch {epoch}" if last_good is not None else "no checkpoint"
        raise TrainingDiverged(
            f"the loss is {float(loss)} at step {step}; {kept} is kept. Lower the learning rate "
            "or check the data",
            step=step,
            last_good=copy.deepcopy(last_good),
        )
