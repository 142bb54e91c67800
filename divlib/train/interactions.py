"""Ratings as tensors, shuffled mini-batches, and the seen-item masks used to exclude training items:
dense for all users, or per batch of users from the items grouped by user (:class:`SeenItems`)."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from divlib.errors import DivlibError

if TYPE_CHECKING:  # any table with user, item and rating columns that have .to_numpy() serves
    import polars as pl

GROUP_CHUNK = 1 << 22  # ratings per chunk when grouping the items by user


@dataclass(frozen=True)
class Interactions:
    """(user, item, rating) triples of one split, with the catalogue size.

    Attributes:
        users, items: ``(N,)`` int64 ids in ``0..n_users-1`` and ``0..n_items-1`` (int32 also serves
            every trainer, with the same results: half the memory for very large splits, e.g. the
            int32 columns of :func:`~divlib.study.data.synthetic_ratings` without a copy).
        ratings: ``(N,)`` float32.
    """

    users: torch.Tensor
    items: torch.Tensor
    ratings: torch.Tensor
    n_users: int
    n_items: int

    @classmethod
    def from_frame(cls, frame: "pl.DataFrame", *, n_users: int, n_items: int) -> "Interactions":
        """From a canonical ratings table (columns user, item, rating; polars, or any table whose
        columns have ``.to_numpy()`` and ``.max()``)."""
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
            self.users.to(device),
            self.items.to(device),
            self.ratings.to(device),
            self.n_users,
            self.n_items,
        )

    def seen(self) -> torch.Tensor:
        """``(n_users, n_items)`` bool: True where the user rated the item in this split."""
        mask = torch.zeros(self.n_users, self.n_items, dtype=torch.bool, device=self.users.device)
        mask[self.users, self.items] = True
        return mask

    def seen_items(self) -> "SeenItems":
        """The items of each user, grouped by user: the rows of :meth:`seen` for a batch of users in
        memory that grows with the ratings, not with n_users × n_items.

        The items are used as they are when the ratings are already in user order (no copy). Else
        they are placed by a counting sort over chunks of ``GROUP_CHUNK`` ratings: each chunk's
        ratings are sorted by user (stably) and written after the same users' ratings of the chunks
        before, so that only one copy of the items and one chunk's temporaries are held; the order
        is that of a stable sort of all ratings by user.
        """
        counts = torch.bincount(self.users, minlength=self.n_users)
        pointers = torch.nn.functional.pad(counts.cumsum(dim=0), (1, 0))
        if bool((self.users[1:] >= self.users[:-1]).all()):
            return SeenItems(pointers, self.items, self.n_items)
        items = torch.empty_like(self.items)
        filled = pointers[:-1].clone()  # where each user's next item goes
        for start in range(0, len(self), GROUP_CHUNK):
            users = self.users[start : start + GROUP_CHUNK].long()
            order = torch.argsort(users, stable=True)
            grouped = users[order]
            rank = torch.arange(len(grouped), device=grouped.device) - torch.searchsorted(
                grouped, grouped
            )  # rank among the chunk's ratings of the same user
            items[filled[grouped] + rank] = self.items[start : start + GROUP_CHUNK][order]
            filled += torch.bincount(users, minlength=self.n_users)
        return SeenItems(pointers, items, self.n_items)

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
        """Index tensors of a shuffled pass; the permutation is drawn on the CPU from ``generator``."""
        order = torch.randperm(len(self.users), generator=generator).to(self.users.device)
        yield from order.split(batch_size)

    def __len__(self) -> int:
        return len(self.users)


@dataclass(frozen=True)
class SeenItems:
    """Each user's rated items in compressed rows: user u's are ``items[pointers[u]:pointers[u + 1]]``.

    ``seen_items[users]`` is the ``(B, n_items)`` bool mask ``Interactions.seen()[users]``, built from
    the B users' rows alone: O(B·n_items + their ratings) time and memory, where the dense mask takes
    n_users × n_items bytes (8.5 GB at Netflix-Prize size).
    """

    pointers: torch.Tensor  # (n_users + 1,) int64 row starts
    items: torch.Tensor  # (N,) item ids, grouped by user
    n_items: int

    def __getitem__(self, users: torch.Tensor) -> torch.Tensor:
        """``(B, n_items)`` bool: True where ``users[b]`` rated the item."""
        starts = self.pointers[users]
        counts = self.pointers[users + 1] - starts
        total = int(counts.sum())
        row = torch.repeat_interleave(
            torch.arange(len(users), device=users.device), counts, output_size=total
        )
        first = torch.repeat_interleave(
            starts - (counts.cumsum(dim=0) - counts), counts, output_size=total
        )
        position = first + torch.arange(total, device=users.device)  # starts[row] + rank in row
        mask = torch.zeros(len(users), self.n_items, dtype=torch.bool, device=users.device)
        mask[row, self.items[position]] = True
        return mask
