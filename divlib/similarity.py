r"""Item distances D = 1 − S and the weighted pair sum Σ_ij w_i w_j D_ij that every diversity objective needs.

The paper's item similarity S is the Jaccard index of the items' category sets (genres, attributes;
``shared/notes/paper.md`` §1.4); :func:`cosine_distance` gives another, from item embeddings. An
*item distance* here is an object with

* ``pair_sum(weights, items=None) -> (B,)``: :math:`\sum_{i,j} w_i w_j D_{ij}` per row, and
* ``dense() -> (m, m)``: the full matrix.

:class:`DenseDistance` holds any ``(m, m)`` matrix. :class:`GroupedDistance` uses that items with the same
category set have identical rows of D: with g distinct sets it stores a ``(g, g)`` matrix and a group id per
item, and its full pair sum costs O(B·m + B·g²) instead of O(B·m²), exactly.
"""

from abc import ABC, abstractmethod
from functools import cached_property
from pathlib import Path

import torch

from divlib.errors import DivlibError, UnreadableFile
from divlib.io import load_tensors, save_tensors


def jaccard_distance(categories: torch.Tensor) -> torch.Tensor:
    r"""Generalized Jaccard distance between the rows of an item × category matrix.

    .. math:: D_{ij} = 1 - \frac{\sum_c \min(a_{ic}, a_{jc})}{\sum_c \max(a_{ic}, a_{jc})}
              = \frac{2\,\|a_i - a_j\|_1}{\|a_i\|_1 + \|a_j\|_1 + \|a_i - a_j\|_1}

    For 0/1 rows this is 1 − |A∩B| / |A∪B|. Computed through the L1 form, without an ``(m, m, c)`` tensor.

    Args:
        categories: ``(m, c)`` non-negative weights (bool or 0/1 for plain category sets).

    Returns:
        ``(m, m)`` float distances in [0, 1], symmetric, with ``D_ii = 0``.

    Note:
        Items without any category: two such items are at distance 0 (0/0 is taken as "same set", the
        convention of ``scipy.spatial.distance.jaccard``), and at distance 1 from every item that has a
        category. So identical rows always have distance 0, which :class:`GroupedDistance` relies on.
    """
    weights = _check_categories(categories)
    l1 = torch.cdist(weights, weights, p=1.0)  # (m, m)
    mass = weights.sum(dim=1)  # (m,)
    union = mass[:, None] + mass[None, :] + l1  # 2 * sum_c max(a_ic, a_jc)
    distance = torch.where(union > 0, 2 * l1 / union.clamp_min(torch.finfo(union.dtype).tiny), 0.0)
    return distance.fill_diagonal_(0.0)


def cosine_distance(embeddings: torch.Tensor) -> torch.Tensor:
    r"""One minus the cosine similarity between the rows of an item × dimension matrix.

    .. math:: D_{ij} = 1 - \frac{e_i^\top e_j}{\|e_i\|\,\|e_j\|}

    Args:
        embeddings: ``(m, d)`` float item embeddings (e.g. a model's ``item_embeddings()``).

    Returns:
        ``(m, m)`` distances in [0, 2] (in [0, 1] for non-negative embeddings), symmetric, with
        ``D_ii = 0``, on the device and in the dtype of ``embeddings``.

    Note:
        An item whose embedding is zero has no direction: its cosine with every other item is taken as
        0 (distance 1), and its distance to itself is 0, as for every item.
    """
    if not isinstance(embeddings, torch.Tensor) or not embeddings.is_floating_point():
        raise TypeError("embeddings must be a float torch.Tensor")
    if embeddings.dim() != 2 or 0 in embeddings.shape:
        raise DivlibError(
            f"embeddings must be an (items, dimensions) matrix with at least one of each; got shape "
            f"{tuple(embeddings.shape)}"
        )
    if not torch.isfinite(embeddings).all():
        raise DivlibError("the embeddings contain NaN or Inf; check the model they come from")
    norms = embeddings.norm(dim=1, keepdim=True)  # (m, 1)
    unit = embeddings / norms.clamp_min(torch.finfo(embeddings.dtype).tiny)  # zero rows stay 0
    cosine = unit @ unit.T  # (m, m)
    distance = (1 - (cosine + cosine.T) / 2).clamp(0.0, 2.0)  # exactly symmetric; rounding clamped
    return distance.fill_diagonal_(0.0)


GROUPS_PER_ITEM = 8
"""A pair sum over M items of each row goes through the g group sums when g <= 8·M."""


class ItemDistance(ABC):
    """An ``(m, m)`` item distance, possibly stored in compressed form."""

    @property
    @abstractmethod
    def n_items(self) -> int:
        """Catalogue size m."""

    @abstractmethod
    def dense(self) -> torch.Tensor:
        """The full ``(m, m)`` matrix."""

    @abstractmethod
    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None):
        """A copy on ``device`` with float ``dtype``."""

    @abstractmethod
    def _full_pair_sum(self, weights: torch.Tensor) -> torch.Tensor:
        """Σ_ij w_i w_j D_ij for ``weights (B, m)`` over the whole catalogue."""

    @abstractmethod
    def block(self, items: torch.Tensor) -> torch.Tensor:
        """``(B, M, M)`` sub-matrices ``D[items[b, i], items[b, j]]``."""

    @property
    @abstractmethod
    def _storage(self) -> torch.Tensor:
        """The stored matrix, for device and dtype checks."""

    @cached_property
    def value_range(self) -> tuple[float, float]:
        """``(min, max)`` of D, 0 included (the diagonal): every mean of distances (DRO, DDRO) lies in it."""
        low, high = torch.aminmax(self._storage)
        return low.item(), high.item()

    def pair_sum(self, weights: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        r"""Weighted pair sum :math:`\sum_{i,j} w_i w_j D_{ij}` per row.

        Args:
            weights: ``(B, m)`` weights over the catalogue, or ``(B, M)`` weights of the items ``items``.
            items: optional ``(B, M)`` int64 item ids; then only those items' pairs are summed, in
                O(B·M²), whatever the catalogue size.

        Returns:
            ``(B,)`` sums, differentiable in ``weights``.
        """
        self._check_weights(weights, items)
        if items is None:
            return self._full_pair_sum(weights)
        return self._items_pair_sum(weights, items)

    def _items_pair_sum(self, weights: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Σ_ij w_i w_j D_{items_i, items_j} per row, from the ``(B, M, M)`` blocks."""
        return torch.einsum("bi,bij,bj->b", weights, self.block(items), weights)

    def _check_weights(self, weights: torch.Tensor, items: torch.Tensor | None) -> None:
        storage = self._storage
        if weights.dim() != 2:
            raise DivlibError(f"weights must have shape (B, m); got {tuple(weights.shape)}")
        if items is None and weights.shape[1] != self.n_items:
            raise DivlibError(
                f"weights have {weights.shape[1]} columns but the distance covers {self.n_items} items"
            )
        if items is not None and items.shape != weights.shape:
            raise DivlibError(
                f"items {tuple(items.shape)} must have the shape of weights {tuple(weights.shape)}"
            )
        if weights.device != storage.device or weights.dtype != storage.dtype:
            raise DivlibError(
                f"weights are {weights.dtype} on {weights.device} but the distance is {storage.dtype} "
                f"on {storage.device}; move it once with distance.to(device, dtype)"
            )


class DenseDistance(ItemDistance):
    """Any ``(m, m)`` distance matrix with a zero diagonal; pair sums cost O(B·m²)."""

    def __init__(self, matrix: torch.Tensor):
        if not isinstance(matrix, torch.Tensor) or not matrix.is_floating_point():
            raise TypeError("matrix must be a float torch.Tensor")
        if matrix.dim() != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
            raise DivlibError(
                f"a distance matrix must be square (m, m) with m >= 1; got {tuple(matrix.shape)}"
            )
        if not torch.isfinite(matrix).all():
            raise DivlibError("the distance matrix contains NaN or Inf")
        if matrix.diagonal().abs().max() > 0:
            raise DivlibError(
                "the distance matrix must have a zero diagonal (an item is at distance 0 from itself); "
                "fix it with matrix.fill_diagonal_(0)"
            )
        self.matrix = matrix

    @property
    def n_items(self) -> int:
        return self.matrix.shape[0]

    @property
    def _storage(self) -> torch.Tensor:
        return self.matrix

    def dense(self) -> torch.Tensor:
        return self.matrix

    def to(self, device=None, dtype=None) -> "DenseDistance":
        return DenseDistance(self.matrix.to(device=device, dtype=dtype))

    def _full_pair_sum(self, weights: torch.Tensor) -> torch.Tensor:
        return ((weights @ self.matrix) * weights).sum(dim=1)

    def block(self, items: torch.Tensor) -> torch.Tensor:
        return self.matrix[items[:, :, None], items[:, None, :]]


class GroupedDistance(ItemDistance):
    r"""Distance between items given through their groups: :math:`D_{ij} = G_{g(i)\,g(j)}`.

    The full pair sum first adds the weights of each group, :math:`W_a = \sum_{i: g(i)=a} w_i`, then

    .. math:: \sum_{i,j} w_i w_j D_{ij} = \sum_{a,b} W_a W_b G_{ab},

    exact because D_ij depends on i and j only through their groups (and ``G_aa = 0``, so pairs within a
    group add nothing, as ``D_ij = 0`` for items with identical category rows).

    Args:
        group_distance: ``(g, g)`` distances between groups, zero diagonal.
        groups: ``(m,)`` int64 group id of every item, in ``0..g-1``.
    """

    def __init__(self, group_distance: torch.Tensor, groups: torch.Tensor):
        self.group_distance = DenseDistance(group_distance).matrix
        if groups.dim() != 1 or groups.dtype != torch.int64:
            raise DivlibError("groups must be a 1-D int64 tensor with one group id per item")
        g = group_distance.shape[0]
        if groups.numel() and (groups.min() < 0 or groups.max() >= g):
            raise DivlibError(f"group ids must lie in 0..{g - 1} for a ({g}, {g}) group distance")
        if groups.device != group_distance.device:
            raise DivlibError("groups and group_distance must be on the same device")
        self.groups = groups

    @classmethod
    def from_categories(cls, categories: torch.Tensor) -> "GroupedDistance":
        """Group items by identical category rows and take the Jaccard distance between groups."""
        weights = _check_categories(categories)
        unique_rows, groups = torch.unique(weights, dim=0, return_inverse=True)
        return cls(jaccard_distance(unique_rows), groups)

    @property
    def n_items(self) -> int:
        return self.groups.shape[0]

    @property
    def n_groups(self) -> int:
        return self.group_distance.shape[0]

    @property
    def _storage(self) -> torch.Tensor:
        return self.group_distance

    def dense(self) -> torch.Tensor:
        return self.group_distance[self.groups[:, None], self.groups[None, :]]

    def to(self, device=None, dtype=None) -> "GroupedDistance":
        return GroupedDistance(
            self.group_distance.to(device=device, dtype=dtype), self.groups.to(device=device)
        )

    def _full_pair_sum(self, weights: torch.Tensor) -> torch.Tensor:
        group_weights = weights.new_zeros(weights.shape[0], self.n_groups).index_add(
            1, self.groups, weights
        )  # (B, g)
        return ((group_weights @ self.group_distance) * group_weights).sum(dim=1)

    def block(self, items: torch.Tensor) -> torch.Tensor:
        item_groups = self.groups[items]  # (B, M)
        return self.group_distance[item_groups[:, :, None], item_groups[:, None, :]]

    def _items_pair_sum(self, weights: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Through the group sums W_a of the M items, in O(B·(M + g²)), when g <= ``GROUPS_PER_ITEM``·M
        (on a CPU the two forms cost the same near g ≈ 9·M); else through the ``(B, M, M)`` blocks."""
        if self.n_groups > GROUPS_PER_ITEM * items.shape[1]:
            return super()._items_pair_sum(weights, items)
        group_weights = weights.new_zeros(weights.shape[0], self.n_groups).scatter_add(
            1, self.groups[items], weights
        )  # (B, g)
        return ((group_weights @ self.group_distance) * group_weights).sum(dim=1)


def save_distance(distance: GroupedDistance, path: str | Path, category_names: list[str]) -> None:
    """Save a grouped distance (group matrix, group id per item, category names) atomically."""
    payload = {
        "group_distance": distance.group_distance.cpu(),
        "groups": distance.groups.cpu(),
        "category_names": list(category_names),
    }
    save_tensors(payload, path)


def load_distance(path: str | Path, device: torch.device | str = "cpu") -> GroupedDistance:
    """Load a distance saved by :func:`save_distance`, in one call.

    Raises:
        UnreadableFile: the file is not such a distance (damaged, or another kind of file).
    """
    payload = load_tensors(path, "distance file", device)
    try:
        return GroupedDistance(payload["group_distance"], payload["groups"])
    except (KeyError, TypeError) as error:
        raise UnreadableFile(path, f"not a divlib distance file ({error!r:.80})") from None


def as_item_distance(distance: ItemDistance | torch.Tensor) -> ItemDistance:
    """Accept an item-distance object, or wrap a dense ``(m, m)`` tensor in :class:`DenseDistance`."""
    if isinstance(distance, ItemDistance):
        return distance
    if isinstance(distance, torch.Tensor):
        return DenseDistance(distance)
    raise TypeError(f"distance must be an ItemDistance or an (m, m) tensor; got {type(distance)}")


def _check_categories(categories: torch.Tensor) -> torch.Tensor:
    if not isinstance(categories, torch.Tensor):
        raise TypeError(f"categories must be a torch.Tensor; got {type(categories).__name__}")
    if categories.dim() != 2 or 0 in categories.shape:
        raise DivlibError(
            f"categories must be an (items, categories) matrix with at least one of each; got shape "
            f"{tuple(categories.shape)}; check the items table's category columns"
        )
    weights = (
        categories if categories.is_floating_point() else categories.to(torch.get_default_dtype())
    )
    if not torch.isfinite(weights).all() or (weights < 0).any():
        raise DivlibError("category weights must be finite and non-negative")
    return weights
