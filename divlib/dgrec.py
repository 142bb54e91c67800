r"""DGRec (Yang et al., WSDM 2023, *Graph Neural Network for Recommendation with Diversified Embedding
Generation*) in plain PyTorch: a LightGCN-style propagation over the user–item graph with the paper's
three modules, each of which :class:`DGRecOptions` can switch off.

Ported from the authors' code, ``YangLiangwei/DGRec`` (DGL 1.0; files ``models/layers.py``,
``models/models.py``, ``utils/dataloader.py``, ``main.py``, ``utils/parser.py``), and from the copy
adapted by the DDRO paper's group, ``EricaCoppolillo/EXPLORE`` ``strategy/DGRec/`` (which computes the
neighbour similarity from the items' genres). With the DGRec authors' symbols, for a user u with
training items N(u), an item i with users N(i), degrees :math:`d` (clamped to at least 1):

1. **Submodular neighbour selection** (``layers.py`` ``submodular_selection_feature``): a user with more
   than ``neighbors`` = K items aggregates only K of them, picked greedily to maximise the facility-
   location function :math:`f(S) = \sum_{j \in N(u)} \max_{s \in S} \mathrm{sim}(j, s)`
   (:func:`select_neighbors`). Items aggregate all their users (user nodes carry no category, category
   -1 in ``sub_reduction``).
2. **Propagation** (``layers.py`` ``forward``), per layer l, both sides from layer l's embeddings:

   .. math:: h_i^{(l+1)} = d_i^{-1/2} \sum_{u \in N(i)} d_u^{-1/2} h_u^{(l)}, \qquad
             h_u^{(l+1)} = d_u^{-1/2} \sum_{i \in S_u} d_i^{-1/2} h_i^{(l)}

   with :math:`S_u = N(u)` when :math:`|N(u)| \le K` (:func:`propagation_matrices`).
3. **Layer attention** (``models.py`` ``layer_attention``): :math:`h = \sum_l \alpha_l h^{(l)}`,
   :math:`\alpha = \mathrm{softmax}_l\big((h^{(l)} W) a\big)` per node, W and a shared by users and
   items; the score is :math:`\hat y_{ui} = h_u^\top h_i`.
4. **Category-balanced loss** (``main.py``, ``dataloader.py`` ``get_sample_weight``): the BPR loss of
   each training pair is weighted by the class-balanced weight (Cui et al., CVPR 2019) of its item's
   category, :math:`w_c \propto (1 - \beta)/(1 - \beta^{n_c})` (:func:`class_balanced_weights`).

Training (:func:`train_dgrec`) is the authors': full-graph Adam steps, one per epoch, on
:math:`\frac{1}{T}\sum_{t=1}^{T} \frac{1}{|E|}\sum_{(u,i) \in E} w_{c(i)}
\,(-\log\sigma(\hat y_{ui} - \hat y_{u j_t}))` with T uniform negative items :math:`j_t` per pair;
early stopping on the same loss over the validation pairs (one negative each), the best epoch kept.
"""

import logging
from dataclasses import dataclass
from typing import Annotated, Literal

import torch
from torch import nn

from divlib._validate import Count, NonNegative, Positive, Range, check_fields
from divlib.errors import DivlibError
from divlib.similarity import jaccard_distance
from divlib.train.common import TrainResult, run_epochs
from divlib.train.interactions import Interactions

SIMILARITIES = ("embedding", "genre-jaccard")  # sim(j, s) of the neighbour selection
BLOCK_NUMBERS = 1 << 20  # numbers per chunk of (users, n, n) similarity blocks in the selection
PADDING = 1.125  # a chunk's largest degree is at most this many times its smallest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DGRecOptions:
    """Settings of :func:`train_dgrec`; defaults are the authors' (``utils/parser.py``, also EXPLORE's).
    Each field's annotation is its check (:func:`divlib._validate.check_fields`) and the schema of
    params.yaml's ``dgrec`` section."""

    epochs: Count = 1000  # at most (one full-graph step each)
    patience: Count | None = 10  # stop after this many epochs without a lower validation loss
    dim: Count = 32  # embed_size
    lr: Positive = 0.05  # Adam
    weight_decay: NonNegative = 8e-8  # Adam's (coupled) L2 term
    layers: Count = 1
    negatives: Count = 4  # neg_number: uniform negatives per training pair and step
    neighbors: Count = 20  # k: items a user aggregates (the submodular selection)
    sigma: Positive = 1.0  # the kernel width of the "embedding" similarity
    beta_class: Annotated[float, Range(ge=0, lt=1)] = 0.9  # the class-balanced loss' β
    similarity: Literal[SIMILARITIES] = "embedding"  # of the selection: the authors', or EXPLORE's
    selection: bool = True  # module 1 (off: every user aggregates all its items)
    attention: bool = True  # module 2 (off: the mean over layers, as LightGCN)
    balance: bool = True  # module 3 (off: every pair weighs 1)

    def __post_init__(self):
        check_fields(self)


def select_neighbors(similarity: torch.Tensor, valid: torch.Tensor, *, k: int) -> torch.Tensor:
    r"""Greedy maximisation of the facility-location function over each row's candidates, k picks.

    .. math:: f(S) = \sum_{j} \max_{s \in S} \mathrm{sim}(j, s), \qquad
              s_{t+1} = \arg\max_i \sum_j \big(\max(\mathrm{sim}(i, j), c_j) - c_j\big),
              \quad c_j = \max_{s \in S_t} \mathrm{sim}(j, s)

    as ``submodular_selection_feature`` (``models/layers.py``): ``c`` starts at 0; the argmax takes the
    first best candidate and does not skip picked ones, so once every gain is 0 the first candidate
    is picked again (the aggregation then counts it again, as the authors' sum does).

    Args:
        similarity: ``(B, n, n)`` non-negative, ``similarity[b, i, j]`` = sim(i, j) in row b.
        valid: ``(B, n)`` bool, the real candidates of each row (the rest is padding); each row has
            at least one.
        k: picks per row.

    Returns:
        ``(B, k)`` int64 positions in ``0..n-1``, in the order picked.
    """
    if similarity.dim() != 3 or similarity.shape[1:] != (similarity.shape[1],) * 2:
        raise DivlibError(f"similarity must have shape (B, n, n); got {tuple(similarity.shape)}")
    if valid.shape != similarity.shape[:2] or not bool(valid.any(dim=1).all()):
        raise DivlibError("valid must be (B, n) bool with at least one candidate per row")
    sims = similarity.masked_fill(~valid[:, None, :], 0.0)  # padding covers nothing
    cache = sims.new_zeros(sims.shape[0], 1, sims.shape[2])  # (B, 1, n) c_j
    rows = torch.arange(sims.shape[0], device=sims.device)
    picks = []
    for _ in range(k):
        gain = (torch.maximum(sims, cache) - cache).sum(dim=-1)  # (B, n)
        pick = gain.masked_fill(~valid, float("-inf")).argmax(dim=1)  # (B,) first best
        cache = torch.maximum(cache, sims[rows, pick][:, None, :])
        picks.append(pick)
    return torch.stack(picks, dim=1)  # (B, k)


def first_categories(categories: torch.Tensor) -> torch.Tensor:
    """``(m,)`` each item's first category (lowest column with a weight > 0), as EXPLORE's
    ``get_categories`` gives DGRec one category per item; items without one get the extra class
    ``c``."""
    present = categories > 0  # (m, c)
    first = present.int().argmax(dim=1)
    return torch.where(present.any(dim=1), first, categories.shape[1])


def class_balanced_weights(classes: torch.Tensor, *, beta: float) -> torch.Tensor:
    r"""``(m,)`` the weight of each item's class: Cui et al.'s class-balanced weight, as
    ``get_sample_weight`` (``utils/dataloader.py``):

    .. math:: w_c = C \, \frac{(1-\beta)/(1-\beta^{n_c})}{\sum_{c'} (1-\beta)/(1-\beta^{n_{c'}})}

    over the C classes that hold items, :math:`n_c` the number of items of class c.

    Note:
        The authors index the per-class weights, ordered by each class's first appearance, by the
        class id, which matches only when classes first appear in id order; EXPLORE's copy counts
        genres per item instead of items per class. Both are taken as slips: here :math:`w_c` is
        the weight of class c.
    """
    counts = torch.bincount(classes).double()  # (C',) n_c, 0 for absent ids
    held = counts > 0
    effective = torch.where(held, (1 - beta) / (1 - beta ** counts.clamp_min(1)), 0.0)
    weights = effective / effective.sum() * held.sum()
    return weights.float()[classes]


def propagation_matrices(
    edge_users: torch.Tensor,
    edge_items: torch.Tensor,
    *,
    n_users: int,
    n_items: int,
    selected: torch.Tensor | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The two sparse normalised adjacencies of one layer (``DGRecLayer.forward``):
    ``(n_users, m)`` :math:`P_U = D_U^{-1/2} A_S D_I^{-1/2}` and ``(m, n_users)``
    :math:`P_I = D_I^{-1/2} A^\top D_U^{-1/2}`, so that ``h_U' = P_U @ h_I`` and ``h_I' = P_I @ h_U``.

    A is the 0/1 user × item matrix of the ``(E,)`` edges, D its degrees (clamped to 1). A_S counts
    the edges ``selected`` (``(E',)`` positions into the edges, repeats counted; None: all), the
    users' aggregated items; the degrees stay those of A, as the authors'.
    """
    degree_u = torch.bincount(edge_users, minlength=n_users).clamp_min(1).float() ** -0.5
    degree_i = torch.bincount(edge_items, minlength=n_items).clamp_min(1).float() ** -0.5
    norm = (degree_u[edge_users] * degree_i[edge_items]).to(dtype)  # (E,)
    to_items = torch.sparse_coo_tensor(
        torch.stack([edge_items, edge_users]), norm, (n_items, n_users), check_invariants=False
    ).coalesce()
    if selected is not None:
        edge_users, edge_items, norm = edge_users[selected], edge_items[selected], norm[selected]
    to_users = torch.sparse_coo_tensor(
        torch.stack([edge_users, edge_items]), norm, (n_users, n_items), check_invariants=False
    ).coalesce()  # repeated picks add up
    return to_users, to_items


class DGRec(nn.Module):
    r"""DGRec's scorer over a fixed training graph (the module docstring's equations).

    The graph (user-sorted edges) and the item categories are buffers, so a saved state rebuilds the
    model (:func:`divlib.models.load_model`). Parameters as the authors': N(0, 1) user and item
    embeddings, attention W (d, d) and a (d,). ``score_all`` propagates the whole graph on each call.
    """

    def __init__(
        self,
        n_users: int,
        n_items: int,
        *,
        edges: torch.Tensor,
        categories: torch.Tensor,
        dim: int,
        layers: int = 1,
        neighbors: int = 20,
        sigma: float = 1.0,
        similarity: str = "embedding",
        selection: bool = True,
        attention: bool = True,
        generator: torch.Generator,
    ):
        super().__init__()
        self.n_items, self.n_users = n_items, n_users
        self.layers, self.neighbors, self.sigma = layers, neighbors, sigma
        self.similarity, self.selection, self.attention = similarity, selection, attention
        order = torch.argsort(edges[0] * n_items + edges[1])  # by user, then item
        self.register_buffer("edge_users", edges[0][order].long())
        self.register_buffer("edge_items", edges[1][order].long())
        self.register_buffer("categories", categories.float())
        self.users = nn.Parameter(torch.randn(n_users, dim, generator=generator))
        self.items = nn.Parameter(torch.randn(n_items, dim, generator=generator))
        self.W = nn.Parameter(torch.randn(dim, dim, generator=generator))
        self.a = nn.Parameter(torch.randn(dim, generator=generator))
        self._fixed: tuple | None = None  # the matrices that do not move with the embeddings
        self.register_load_state_dict_post_hook(lambda module, _: module.forget())

    def config(self) -> dict:
        """What :func:`build_dgrec` needs to rebuild this model (with :func:`~divlib.models.save_model`)."""
        return {
            "n_users": self.n_users,
            "n_items": self.n_items,
            "n_edges": len(self.edge_users),
            "n_categories": self.categories.shape[1],
            "dim": self.users.shape[1],
            "layers": self.layers,
            "neighbors": self.neighbors,
            "sigma": self.sigma,
            "similarity": self.similarity,
            "selection": self.selection,
            "attention": self.attention,
        }

    def forget(self) -> None:
        """Drop the cached matrices (the graph or the device changed)."""
        self._fixed = None

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(n_users, d)`` and ``(m, d)``: the layers' embeddings combined (attention or mean)."""
        user_layers, item_layers = [self.users], [self.items]
        for _ in range(self.layers):
            to_users, to_items = self._matrices(item_layers[-1])
            user_layers.append(torch.sparse.mm(to_users, item_layers[-1]))
            item_layers.append(torch.sparse.mm(to_items, user_layers[-2]))
        return self._combine(user_layers), self._combine(item_layers)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        user_h, item_h = self.embeddings()
        return (user_h.index_select(0, users) * item_h.index_select(0, items)).sum(dim=-1)

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        user_h, item_h = self.embeddings()
        return user_h.index_select(0, users) @ item_h.T  # (B, m)

    def item_embeddings(self) -> torch.Tensor:
        """``(m, d)`` the combined item embeddings the scores are computed from."""
        return self.embeddings()[1]

    def _combine(self, layers: list[torch.Tensor]) -> torch.Tensor:
        stacked = torch.stack(layers)  # (L+1, N, d)
        if not self.attention:
            return stacked.mean(dim=0)
        alpha = torch.softmax((stacked @ self.W) @ self.a, dim=0)  # (L+1, N)
        return (stacked * alpha[..., None]).sum(dim=0)

    def _matrices(self, item_h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """This layer's (P_U, P_I); the selection on embeddings is redone from ``item_h``."""
        if self._fixed is None or (self._fixed[1].device, self._fixed[1].dtype) != (
            item_h.device,
            item_h.dtype,
        ):
            selected = None
            if self.selection and self.similarity == "genre-jaccard":
                selected = self._select(1 - jaccard_distance(self.categories))
            self._fixed = propagation_matrices(
                self.edge_users,
                self.edge_items,
                n_users=self.n_users,
                n_items=self.n_items,
                selected=selected,
                dtype=item_h.dtype,
            )
        if not (self.selection and self.similarity == "embedding"):
            return self._fixed
        with torch.no_grad():  # the picks are indices: no gradient flows through them
            degree = torch.bincount(self.edge_items, minlength=self.n_items).clamp_min(1)
            selected = self._select(item_h.detach() * degree[:, None] ** -0.5)
        to_users, _ = propagation_matrices(
            self.edge_users,
            self.edge_items,
            n_users=self.n_users,
            n_items=self.n_items,
            selected=selected,
            dtype=item_h.dtype,
        )
        return to_users, self._fixed[1]

    def _select(self, items: torch.Tensor) -> torch.Tensor:
        """Positions of the edges each user aggregates: all of a user's with at most K items, else
        K picks of :func:`select_neighbors`; the users in chunks of like degree."""
        counts = torch.bincount(self.edge_users, minlength=self.n_users)
        starts = counts.cumsum(0) - counts
        keep = [torch.nonzero(counts[self.edge_users] <= self.neighbors).flatten()]
        large = torch.nonzero(counts > self.neighbors).flatten()
        large = large[torch.argsort(counts[large], stable=True)]
        for chunk in _like_degrees(counts[large].tolist(), large):
            width = int(counts[chunk].max())
            offsets = torch.arange(width, device=counts.device)
            valid = offsets[None, :] < counts[chunk][:, None]  # (B, n)
            positions = (starts[chunk][:, None] + offsets).masked_fill(~valid, 0)  # (B, n) edges
            neighbours = self.edge_items[positions]  # (B, n) item ids
            similarity = self._similarity(items, neighbours, valid)
            picks = select_neighbors(similarity, valid, k=self.neighbors)  # (B, K)
            keep.append(positions.gather(1, picks).flatten())
        return torch.cat(keep)

    def _similarity(
        self, items: torch.Tensor, neighbours: torch.Tensor, valid: torch.Tensor
    ) -> torch.Tensor:
        r"""``(B, n, n)`` sim between each user's items. ``genre-jaccard`` (EXPLORE): ``items`` is the
        ``(m, m)`` 1 − Jaccard matrix of the genres. ``embedding`` (the authors'
        ``similarity_matrix``): ``items`` are the messages :math:`d_i^{-1/2} h_i`, and
        :math:`\mathrm{sim} = \exp(-\|x_j - x_s\| / (\sigma \bar\delta))`, :math:`\bar\delta` the
        user's mean distance over all n² pairs of its items (the diagonal's zeros included)."""
        if self.similarity == "genre-jaccard":
            return items[neighbours[:, :, None], neighbours[:, None, :]]
        messages = items[neighbours]  # (B, n, d)
        distance = torch.cdist(messages, messages)  # (B, n, n)
        pairs = valid[:, :, None] & valid[:, None, :]
        mean = (distance * pairs).sum(dim=(1, 2)) / pairs.sum(dim=(1, 2))  # (B,)
        scale = (self.sigma * mean).clamp_min(torch.finfo(mean.dtype).tiny)
        return torch.exp(-distance / scale[:, None, None])


def _like_degrees(degrees: list[int], users: torch.Tensor) -> list[torch.Tensor]:
    """``users`` (sorted by their ``degrees``, ascending) in chunks of at most
    :data:`BLOCK_NUMBERS` similarities (one user at least), degrees within :data:`PADDING` of each
    other (little padding)."""
    chunks, begin = [], 0
    for end in range(1, len(degrees) + 1):
        if end == len(degrees) or (
            (end - begin + 1) * degrees[end] ** 2 > BLOCK_NUMBERS
            or degrees[end] > PADDING * degrees[begin]
        ):
            chunks.append(users[begin:end])
            begin = end
    return chunks


def build_dgrec(config: dict) -> DGRec:
    """An untrained :class:`DGRec` of the shapes in ``config`` (:meth:`DGRec.config`), to load a
    saved state into."""
    edges = torch.zeros(2, config["n_edges"], dtype=torch.long)
    categories = torch.zeros(config["n_items"], config["n_categories"])
    keys = ("dim", "layers", "neighbors", "sigma", "similarity", "selection", "attention")
    return DGRec(
        config["n_users"],
        config["n_items"],
        edges=edges,
        categories=categories,
        generator=torch.Generator().manual_seed(0),
        **{key: config[key] for key in keys},
    )


def train_dgrec(
    train: Interactions,
    categories: torch.Tensor,
    options: DGRecOptions,
    *,
    seed: int,
    device: torch.device | str,
    validation: Interactions | None = None,
    name: str = "dgrec",
) -> tuple[DGRec, TrainResult]:
    r"""Train DGRec on the pairs of ``train`` (ratings ignored: every pair is a positive).

    Args:
        categories: ``(m, c)`` item × category weights (0/1); the loss weights use each item's
            first category (:func:`first_categories`), the ``genre-jaccard`` selection all of them.
        seed: initialisation and negative items (drawn on the CPU).
        validation: pairs whose loss selects the epoch and stops the run after ``patience`` epochs
            without a lower one; None: every epoch runs and the last is kept.

    Returns:
        The model (CPU, the selected epoch's state) and the run's records (``train_loss`` per
        step, ``val_loss`` per epoch).

    Note:
        :math:`-\log\sigma(x)` is computed as softplus(−x): the same number without the authors'
        overflow to inf for large margins. ``batch_size`` of the authors' parser is unused by their
        training (full graph), so it is not an option here.
    """
    check_fields(options)
    if categories.dim() != 2 or categories.shape[0] != train.n_items:
        raise DivlibError(
            f"categories must be the ({train.n_items}, C) item × category matrix; got "
            f"{tuple(categories.shape)}; load it from the same prepared dataset as train"
        )
    generator = torch.Generator().manual_seed(seed)
    model = DGRec(
        train.n_users,
        train.n_items,
        edges=torch.stack([train.users, train.items]).cpu(),
        categories=categories.cpu(),
        dim=options.dim,
        layers=options.layers,
        neighbors=options.neighbors,
        sigma=options.sigma,
        similarity=options.similarity,
        selection=options.selection,
        attention=options.attention,
        generator=generator,
    ).to(device)
    classes = first_categories(categories.cpu())
    weights = (
        class_balanced_weights(classes, beta=options.beta_class)
        if options.balance
        else torch.ones(train.n_items)
    ).to(device)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=options.lr, weight_decay=options.weight_decay
    )
    positives = (model.edge_users, model.edge_items)
    held_out = (
        None if validation is None else (validation.users.to(device), validation.items.to(device))
    )

    def steps():
        loss = _bpr_loss(model, positives, weights, options.negatives, generator)
        if torch.isfinite(loss):
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        yield loss.detach(), {"train_loss": float(loss.detach())}

    @torch.no_grad()
    def summarize(records: list[dict]) -> dict:
        summary = {"train_loss": records[-1]["train_loss"]}
        if held_out:
            summary["val_loss"] = float(_bpr_loss(model, held_out, weights, 1, generator))
        return summary

    result = run_epochs(
        model,
        epochs=options.epochs,
        steps=steps,
        summarize=summarize,
        objective="val_loss" if held_out else "train_loss",
        select="best" if held_out else "last",
        patience=options.patience if held_out else None,
        name=name,
    )
    model.load_state_dict(result.selected_state)
    return model.cpu(), result


def _bpr_loss(
    model: DGRec,
    pairs: tuple[torch.Tensor, torch.Tensor],
    weights: torch.Tensor,
    negatives: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """The weighted BPR loss of ``pairs`` (users, items) with ``negatives`` uniform items each (the
    module docstring's loss; negatives may be rated items, as the authors' ``construct_negative_graph``)."""
    users, items = pairs
    user_h, item_h = model.embeddings()
    user_h = user_h.index_select(0, users)  # (E, d)
    positive = (user_h * item_h.index_select(0, items)).sum(dim=-1)  # (E,)
    weight = weights.index_select(0, items)
    total = positive.new_zeros(())
    for _ in range(negatives):
        drawn = torch.randint(model.n_items, (len(users),), generator=generator).to(users.device)
        negative = (user_h * item_h.index_select(0, drawn)).sum(dim=-1)
        total = total + (weight * nn.functional.softplus(negative - positive)).mean()
    return total / negatives
