"""Pieces shared by the training loops: results, evaluation, and the checks on options and losses."""

import copy
from dataclasses import dataclass

import polars as pl
import torch
from torch import nn

from divlib.errors import DivlibError, TrainingDiverged
from divlib.train.interactions import Interactions

EVAL_CHUNK = 1 << 20  # ratings per forward pass when evaluating


@dataclass
class TrainResult:
    """What a run leaves: the final and the selected state, and its per-step and per-epoch records."""

    final_state: dict
    selected_state: dict
    selected_epoch: int
    steps: pl.DataFrame
    epochs: pl.DataFrame


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


def check_count(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DivlibError(f"{name} must be an int >= 1; got {value!r}")
