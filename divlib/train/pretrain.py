r"""Relevance pretraining: minimise the rating MSE (plus an optional L2 penalty) with AdamW.

.. math:: \Theta^* = \arg\min_\Theta \tfrac{1}{|B|} \sum_{(u,i) \in B} (R_{ui} - \tilde R_{ui})^2
          + \lambda \|\Theta\|^2

The selected checkpoint is the epoch with the lowest *validation* MSE (the paper's code selected on the
test split; we do not).
"""

from dataclasses import dataclass

import polars as pl
import torch
from torch import nn

from divlib._validate import check_range
from divlib.train.common import (
    TrainResult,
    check_count,
    check_finite,
    mean_squared_error,
    snapshot,
)
from divlib.train.interactions import Interactions


@dataclass(frozen=True)
class PretrainOptions:
    """Settings of :func:`pretrain` (params.yaml section ``pretrain``)."""

    epochs: int
    lr: float
    batch_size: int
    weight_decay: float = 0.01  # AdamW's decoupled decay (the paper's code used AdamW's default)
    l2: float = 0.0  # λ of the explicit penalty λ‖Θ‖²
    seed: int = 0  # order of the mini-batches

    def __post_init__(self):
        check_count("pretrain.epochs", self.epochs)
        check_count("pretrain.batch_size", self.batch_size)
        check_range("pretrain.lr", self.lr, 0.0, closed=False)
        check_range("pretrain.weight_decay", self.weight_decay, 0.0)
        check_range("pretrain.l2", self.l2, 0.0)


def pretrain(
    model: nn.Module,
    train: Interactions,
    val: Interactions,
    *,
    options: PretrainOptions,
    device: torch.device | str,
) -> TrainResult:
    """Train ``model`` for relevance; returns final and best-validation states and per-epoch losses."""
    model.to(device)
    train, val = train.to(device), val.to(device)
    generator = torch.Generator().manual_seed(options.seed)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=options.lr, weight_decay=options.weight_decay
    )
    steps, epochs = [], []
    best = (float("inf"), 0, snapshot(model))
    last_good, step = None, 0
    for epoch in range(1, options.epochs + 1):
        model.train()
        for batch in train.batches(options.batch_size, generator):
            predicted = model(train.users[batch], train.items[batch])
            mse = ((predicted - train.ratings[batch]) ** 2).mean()
            loss = mse + options.l2 * sum((p**2).sum() for p in model.parameters())
            step += 1
            check_finite(loss, step=step, last_good=last_good, epoch=epoch - 1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            steps.append({"step": step, "epoch": epoch, "mse": float(mse.detach())})
        model.eval()
        val_mse = mean_squared_error(model, val)
        train_mse = mean_squared_error(model, train)
        epochs.append({"epoch": epoch, "train_mse": train_mse, "val_mse": val_mse})
        last_good = snapshot(model)
        if val_mse < best[0]:
            best = (val_mse, epoch, last_good)
    return TrainResult(
        final_state=last_good,
        selected_state=best[2],
        selected_epoch=best[1],
        steps=pl.DataFrame(steps),
        epochs=pl.DataFrame(epochs),
    )
