r"""Relevance pretraining: minimise the rating MSE (plus an optional L2 penalty) with AdamW.

.. math:: \Theta^* = \arg\min_\Theta \tfrac{1}{|B|} \sum_{(u,i) \in B} (R_{ui} - \tilde R_{ui})^2
          + \lambda \|\Theta\|^2

The selected checkpoint is the epoch with the lowest *validation* MSE (the paper's code selected on the
test split; we do not); with ``patience`` the run stops once that many epochs have not lowered it
(early stopping: the model is trained to convergence, not for a fixed count). ``select="last"`` keeps
the last epoch instead: a fixed training of ``epochs`` epochs.
"""

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from divlib._validate import Count, NonNegative, Positive, check_fields
from divlib.train.common import Step, TrainResult, explosion_limit, mean_squared_error, run_epochs
from divlib.train.interactions import Interactions


@dataclass(frozen=True)
class PretrainOptions:
    """Settings of :func:`pretrain`; each field's annotation is its check
    (:func:`divlib._validate.check_fields`) and the schema of params.yaml's ``pretrain`` section."""

    epochs: Count  # at most
    lr: Positive
    batch_size: Count
    weight_decay: NonNegative = 0.01  # AdamW's decoupled decay (the paper's code: AdamW's default)
    l2: NonNegative = 0.0  # λ of the explicit penalty λ‖Θ‖²
    seed: int = 0  # order of the mini-batches
    patience: Count | None = None  # stop after this many epochs without a lower validation MSE
    select: Literal["best", "last"] = "best"  # the epoch kept: lowest validation MSE, or the last

    def __post_init__(self):
        check_fields(self)


def pretrain(
    model: nn.Module,
    train: Interactions,
    val: Interactions,
    *,
    options: PretrainOptions,
    device: torch.device | str,
    name: str = "pretraining",
) -> TrainResult:
    """Train ``model`` for relevance; returns final and best-validation states and per-epoch losses.

    ``name`` labels the run's log lines and errors. Raises :class:`~divlib.errors.TrainingDiverged`
    when a loss is not finite or an MSE explodes (:func:`~divlib.train.common.explosion_limit`).
    """
    model.to(device)
    train, val = train.to(device), val.to(device)
    limit = explosion_limit(model, val)
    generator = torch.Generator().manual_seed(options.seed)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=options.lr, weight_decay=options.weight_decay
    )

    def steps():
        for batch in train.batches(options.batch_size, generator):
            yield _step(model, optimizer, train, batch, options.l2)

    def summarize(_) -> dict:
        return {
            "train_mse": mean_squared_error(model, train),
            "val_mse": mean_squared_error(model, val),
        }

    return run_epochs(
        model,
        epochs=options.epochs,
        steps=steps,
        summarize=summarize,
        objective="val_mse",
        select=options.select,
        patience=options.patience,
        mse_limit=limit,
        name=name,
    )


def _step(model, optimizer, train: Interactions, batch: torch.Tensor, l2: float) -> Step:
    """One AdamW step on the batch's MSE plus λ‖Θ‖²; none when that loss is not finite."""
    predicted = model(train.users[batch], train.items[batch])
    mse = ((predicted - train.ratings[batch]) ** 2).mean()
    loss = mse + l2 * sum((p**2).sum() for p in model.parameters())
    if torch.isfinite(loss):
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return loss.detach(), {"mse": float(mse.detach())}
