"""Relevance models behind one small interface.

Any ``torch.nn.Module`` with

* ``forward(users (N,), items (N,)) -> (N,)`` predicted ratings, and
* ``score_all(users (B,)) -> (B, m)`` predicted ratings of every item,

plus an ``n_items`` attribute, works with every trainer in :mod:`divlib.train`. The shipped models
also give ``item_embeddings() -> (m, d)``, the item factors their scores are computed from (for an
item similarity such as :func:`divlib.similarity.cosine_distance`). The three shipped here
follow the paper's code (``tianyichow-tcs/DDRO`` ``code/model.py``, ``shared/notes/paper.md`` §1.6);
the baseline :class:`divlib.dgrec.DGRec` has the same interface and is saved and loaded here too
(``name="dgrec"``), but is trained by :func:`divlib.dgrec.train_dgrec`, not pretrained.
"""

from pathlib import Path

import torch
from torch import nn

from divlib.dgrec import build_dgrec
from divlib.errors import DivlibError, UnreadableFile
from divlib.io import load_tensors, save_tensors

SCORE_CHUNK = 1 << 20  # numbers per chunk of NCF.score_all's (hidden, users, items) activations


class NMF(nn.Module):
    r"""Non-negative matrix factorisation, as in the paper's code: :math:`\hat r_{ui} = \sum_d
    \mathrm{relu}(p_u)_d\, \mathrm{relu}(q_i)_d`, embeddings initialised U(0, 0.05)."""

    def __init__(self, n_users: int, n_items: int, dim: int, *, generator: torch.Generator):
        super().__init__()
        self.n_items = n_items
        self.users = nn.Parameter(_uniform((n_users, dim), 0.05, generator))
        self.items = nn.Parameter(_uniform((n_items, dim), 0.05, generator))

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return (_rows(self.users, users).relu() * _rows(self.items, items).relu()).sum(dim=-1)

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        return _rows(self.users, users).relu() @ self.items.relu().T  # (B, m)

    def item_embeddings(self) -> torch.Tensor:
        """``(m, d)`` relu(q_i): the item factors as they enter the score."""
        return self.items.relu()


class MF(nn.Module):
    r"""Biased matrix factorisation: :math:`\hat r_{ui} = \mu + b_u + b_i + p_u^\top q_i`, embeddings
    initialised N(0, 0.01²), biases 0, μ the given global mean (the training ratings' mean)."""

    def __init__(
        self, n_users: int, n_items: int, dim: int, *, generator: torch.Generator, mean: float = 0.0
    ):
        super().__init__()
        self.n_items = n_items
        self.users = nn.Parameter(_normal((n_users, dim), 0.01, generator))
        self.items = nn.Parameter(_normal((n_items, dim), 0.01, generator))
        self.user_bias = nn.Parameter(torch.zeros(n_users))
        self.item_bias = nn.Parameter(torch.zeros(n_items))
        self.mean = nn.Parameter(torch.tensor(float(mean)))

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        dot = (_rows(self.users, users) * _rows(self.items, items)).sum(dim=-1)
        return self.mean + _rows(self.user_bias, users) + _rows(self.item_bias, items) + dot

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        dot = _rows(self.users, users) @ self.items.T  # (B, m)
        return self.mean + _rows(self.user_bias, users)[:, None] + self.item_bias[None, :] + dot

    def item_embeddings(self) -> torch.Tensor:
        """``(m, d)`` q_i (the item biases left out)."""
        return self.items


class NCF(nn.Module):
    r"""Neural collaborative filtering as in the paper's code: :math:`\hat r_{ui} =
    \mathrm{MLP}([p_u; q_i])`, ReLU hidden layers of ``hidden`` sizes (default the paper's 2d, d), a
    linear output."""

    def __init__(
        self,
        n_users: int,
        n_items: int,
        dim: int,
        *,
        generator: torch.Generator,
        hidden: tuple[int, ...] | None = None,
    ):
        super().__init__()
        self.n_items = n_items
        self.users = nn.Parameter(_normal((n_users, dim), 0.1, generator))
        self.items = nn.Parameter(_normal((n_items, dim), 0.1, generator))
        sizes = (2 * dim, *(hidden or (2 * dim, dim)))
        layers: list[nn.Module] = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [_linear(fan_in, fan_out, generator), nn.ReLU()]
        self.mlp = nn.Sequential(*layers, _linear(sizes[-1], 1, generator))

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        pairs = torch.cat([_rows(self.users, users), _rows(self.items, items)], dim=-1)  # (N, 2d)
        return self.mlp(pairs).squeeze(-1)

    def item_embeddings(self) -> torch.Tensor:
        """``(m, d)`` q_i, the item half of the MLP's input."""
        return self.items

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        """The first layer splits over the concatenation, W[p; q] = W_u p + W_i q, so it is applied
        to B users and m items instead of B·m pairs. The layers above it run on chunks of users, the
        hidden units first (``(h, chunk·m)`` activations of at most ``SCORE_CHUNK`` numbers: one
        wide matrix product per layer and chunk, in cache), each chunk's scores written into the
        ``(B, m)`` result: beside it, memory holds one chunk's activations. (Under autograd every
        chunk's activations are kept for the backward pass, B·m·Σh numbers; training never
        differentiates ``score_all``, see :mod:`divlib.train.diversify`.)"""
        first = self.mlp[0]
        w_user, w_item = first.weight.split(self.users.shape[1], dim=1)
        by_user = w_user @ _rows(self.users, users).T  # (h, B)
        by_item = w_item @ self.items.T + first.bias[:, None]  # (h, m)
        chunk = max(1, SCORE_CHUNK // by_item.numel())
        scores = by_item.new_empty(len(users), self.n_items)
        for start in range(0, len(users), chunk):
            part = by_user[:, start : start + chunk]
            hidden = part[:, :, None] + by_item[:, None, :]  # (h, chunk, m)
            scores[start : start + part.shape[1]] = self._above_first(hidden)
        return scores  # (B, m)

    def _above_first(self, hidden: torch.Tensor) -> torch.Tensor:
        """The MLP after its first linear layer, on ``(h, c, m)`` pre-activations; ``(c, m)`` out."""
        pairs = hidden.shape[1:]
        hidden = hidden.flatten(1)
        for layer in self.mlp[1:]:
            if isinstance(layer, nn.ReLU):
                hidden = hidden.relu_()
            else:
                hidden = torch.addmm(layer.bias[:, None], layer.weight, hidden)
        return hidden.view(pairs)


MODELS = {"nmf": NMF, "mf": MF, "ncf": NCF}


def build_model(
    name: str, *, n_users: int, n_items: int, dim: int, seed: int, mean: float = 0.0
) -> nn.Module:
    """A shipped model by name ("nmf", "mf", "ncf"), initialised from ``seed`` (CPU, float32)."""
    if name not in MODELS:
        raise DivlibError(f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    generator = torch.Generator().manual_seed(seed)
    if name == "mf":
        return MF(n_users, n_items, dim, generator=generator, mean=mean)
    return MODELS[name](n_users, n_items, dim, generator=generator)


def _rows(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table[index]`` for a 1-D ``index``, by ``index_select``: its backward pass adds the gradients
    of repeated rows in index order. Advanced indexing's adds float32 ones in a racing order on several
    CPU threads (from 32k numbers on), so that runs would not repeat bit for bit."""
    return table.index_select(0, index)


def _uniform(shape: tuple[int, ...], high: float, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(shape, generator=generator) * high


def _normal(shape: tuple[int, ...], std: float, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(shape, generator=generator) * std


def _linear(fan_in: int, fan_out: int, generator: torch.Generator) -> nn.Linear:
    """nn.Linear with PyTorch's default U(±1/√fan_in) initialisation, drawn from ``generator``."""
    layer = nn.Linear(fan_in, fan_out)
    bound = fan_in**-0.5
    with torch.no_grad():
        layer.weight.copy_((torch.rand(fan_out, fan_in, generator=generator) * 2 - 1) * bound)
        layer.bias.copy_((torch.rand(fan_out, generator=generator) * 2 - 1) * bound)
    return layer


def save_model(path: str | Path, model: nn.Module, *, name: str, config: dict) -> None:
    """Save a shipped model's state with what :func:`load_model` needs to rebuild it, atomically."""
    payload = {
        "name": name,
        "config": config,
        "state": {k: v.cpu() for k, v in model.state_dict().items()},
    }
    save_tensors(payload, path)


def load_model(path: str | Path) -> tuple[nn.Module, dict]:
    """Rebuild a model saved by :func:`save_model`; returns it (CPU) and its config.

    Raises:
        UnreadableFile: the file is not such a checkpoint (damaged, or another kind of file).
    """
    payload = load_tensors(path, "model checkpoint")
    try:
        config = payload["config"]
        if payload["name"] == "dgrec":  # its graph is in its state (divlib.dgrec.DGRec.config)
            model = build_dgrec(config)
        else:
            model = build_model(
                payload["name"],
                n_users=config["n_users"],
                n_items=config["n_items"],
                dim=config["dim"],
                seed=0,
                mean=config.get("mean", 0.0),
            )
        model.load_state_dict(payload["state"])
    except (KeyError, TypeError, RuntimeError) as error:
        raise UnreadableFile(path, f"not a divlib model checkpoint ({error!r:.80})") from None
    return model, config
