"""Ratings as tensors, shuffled mini-batches, and the seen-item mask used to exclude training items."""

from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl
import torch

from divlib.errors import DivlibError


@dataclass(frozen=True)
class Interactions:
    """(user, item, rating) triples of one split, with the catalogue size.

    Attributes:
        users, items: ``(N,)`` int64 ids in ``0..n_users-1`` and ``0..n_items-1``.
        ratings: ``(N,)`` float32.
    """

    users: torch.Tensor
    items: torch.Tensor
    ratings: torch.Tensor
    n_users: int
    n_items: int

    @classmethod
    def from_frame(cls, frame: pl.DataFrame, *, n_users: int, n_items: int) -> "Interactions":
        """From a canonical ratings table (columns user, item, rating)."""
        if len(frame) and (frame["user"].max() >= n_users or frame["item"].max() >= n_items):
            raise DivlibError(f"ids exceed the {n_users} users / {n_items} items of the dataset")
        return cls(
            torch.as_tensor(frame["user"].to_numpy().astype("int64")),
            torch.as_tensor(frame["item"].to_numpy().astype("int64")),
            torch.as_tensor(frame["rating"].to_numpy().astype("float32")),
            n_users,
            n_items,
        )

    def to(self, device: torch.device | str) -> "Interactions":
        return Interactions(
            self.users.to(device), self.items.to(device), self.ratings.to(device),
            self.n_users, self.n_items,
        )  # fmt: skip

    def seen(self) -> torch.Tensor:
        """``(n_users, n_items)`` bool: True where the user rated the item in this split."""
        mask = torch.zeros(self.n_users, self.n_items, dtype=torch.bool, device=self.users.device)
        mask[self.users, self.items] = True
        return mask

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
        """Index tensors of a shuffled pass; the permutation is drawn on the CPU from ``generator``."""
        order = torch.randperm(len(self.users), generator=generator).to(self.users.device)
        yield from order.split(batch_size)

    def __len__(self) -> int:
        return len(self.users)
