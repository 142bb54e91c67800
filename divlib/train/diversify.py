r"""Training for relevance and top-k diversity jointly: DDT (static or adaptive β) and MDR.

The joint objective is eq. (10) of the paper:

.. math:: L_{JOINT} = \beta\, L_{MSE} - (1 - \beta)\, L_{DDRO}

with L_MSE on a mini-batch of ratings and L_DDRO the mean of :func:`divlib.objectives.ddro` over a batch
of users, ranked over the whole catalogue with their training items excluded.

* **DDT** (Alg. 1): a gradient step on L_JOINT. With ``method="ddt-adaptive"`` β is chosen at every step
  as β* of :func:`divlib.tradeoff.adaptive_beta` from g_rel = ∇L_MSE and g_div = −∇L_DDRO over all
  parameters, measured in AdamW's metric (the gradients scaled by the square root of its
  preconditioner, so that the chosen direction is a common descent direction of the step actually
  taken); ``adaptive_rule`` picks the paper's min-norm β* or its normalised form b/(a+b). The step logs
  a = ‖g_rel‖, b = ‖g_div‖, ρ (in that metric), β and the feasible interval of Lemma 3.
* **MDR** (Alg. 2, Ren et al. 2018): per batch, weights w = 0 on its ratings; a differentiable
  look-ahead Θ' = Θ − η ∇_Θ Σ_j w_j ℓ_j; the meta loss L_JOINT(Θ') (its L_MSE unweighted, as in the
  official code); w̃ = max(−∂L_JOINT(Θ')/∂w, 0), w = w̃ / (Σ w̃ + ϵ); then a step on Σ_j w_j ℓ_j.

Both regimes use the same function: pass a pretrained model to fine-tune, a fresh one to train from
scratch.

**Data parallel.** When ``torch.distributed`` is initialised (``torchrun``; gloo on CPU, NCCL on GPU),
every rank draws the same global batches and takes every W-th rating and user of them. Each rank's
losses are sums divided by the *global* batch sizes, and the gradients are summed over ranks, so a step
is the single-process step on the same global batch up to float summation order. "ddt-adaptive" sums
g_rel and g_div before choosing β. MDR is not supported there (its look-ahead would have to be
distributed too).
"""

from dataclasses import dataclass
from typing import Literal

import polars as pl
import torch
import torch.distributed as dist
from torch import nn
from torch.func import functional_call

from divlib._validate import check_range
from divlib.errors import DivlibError
from divlib.objectives import ddro, dro
from divlib.similarity import ItemDistance
from divlib.tradeoff import adaptive_beta, feasible_beta_interval
from divlib.train.common import (
    TrainResult,
    check_count,
    check_finite,
    mean_squared_error,
    snapshot,
)
from divlib.train.interactions import Interactions

METHODS = ("ddt", "ddt-adaptive", "mdr")
MDR_EPSILON = 1e-8  # ϵ of the weight normalisation (Alg. 2)


@dataclass(frozen=True)
class DiversityOptions:
    """The DDRO settings (params.yaml section ``diversity``); see :func:`divlib.objectives.ddro`."""

    k: int = 10
    eps: float = 1e-3
    tau: float = 1.0
    offset: float = 0.0
    top_m: int | str | None = "auto"

    def __post_init__(self):
        check_count("diversity.k", self.k)
        check_range("diversity.eps", self.eps, 0.0, closed=False)
        check_range("diversity.tau", self.tau, 0.0, closed=False)


@dataclass(frozen=True)
class FinetuneOptions:
    """Settings of one run of :func:`finetune` (params.yaml section ``finetune``)."""

    method: Literal["ddt", "ddt-adaptive", "mdr"]
    beta: float  # β of eq. (10); ignored by "ddt-adaptive", which chooses β at every step
    epochs: int
    lr: float
    batch_size: int
    users_per_step: int | None = None  # users in each L_DDRO batch; None: all users (the paper)
    weight_decay: float = 0.0
    seed: int = 0  # batch order and user batches
    select: Literal["last", "best"] = "last"  # "best": lowest validation L_JOINT
    monitor_users: int = 256  # fixed users on which DRO@k and DDRO are tracked per epoch
    meta_lr: float | None = None  # η of MDR's look-ahead step; None: lr
    adaptive_rule: Literal["normalized", "min-norm"] = "normalized"  # see adaptive_beta

    def __post_init__(self):
        if self.method not in METHODS:
            raise DivlibError(f"finetune.method must be one of {METHODS}; got {self.method!r}")
        check_range("finetune.beta", self.beta, 0.0, 1.0)
        check_count("finetune.epochs", self.epochs)
        check_count("finetune.batch_size", self.batch_size)
        check_range("finetune.lr", self.lr, 0.0, closed=False)
        if self.users_per_step is not None:
            check_count("finetune.users_per_step", self.users_per_step)
        if self.adaptive_rule not in ("normalized", "min-norm"):
            raise DivlibError(
                f'finetune.adaptive_rule must be "normalized" or "min-norm"; got {self.adaptive_rule!r}'
            )
        if self.select not in ("last", "best"):
            raise DivlibError(f'finetune.select must be "last" or "best"; got {self.select!r}')


def finetune(
    model: nn.Module,
    train: Interactions,
    val: Interactions,
    *,
    distance: ItemDistance,
    diversity: DiversityOptions,
    options: FinetuneOptions,
    device: torch.device | str,
) -> TrainResult:
    """Train ``model`` on L_JOINT by DDT or MDR; returns states and per-step and per-epoch records.

    Per step: mse, ddro and the hard dro (DRO@k) of the step's users from the same scores (after the
    update for MDR, before it for DDT), beta (and a, b, rho, beta_low, beta_high for "ddt-adaptive"),
    weight_max for MDR. Per epoch:
    val_mse, the monitor users' hard ``dro`` (DRO@k) and ``ddro``, and val_joint = β·val_mse −
    (1−β)·ddro (β averaged over the epoch when adaptive), which ``select="best"`` minimises.
    """
    if options.method == "mdr" and _world() > 1:
        raise DivlibError("finetune.method mdr does not run under torch.distributed; use ddt")
    if diversity.k >= train.n_items:
        raise DivlibError(
            f"diversity.k = {diversity.k} must be below the {train.n_items} items of the catalogue"
        )
    model.to(device)
    train, val = train.to(device), val.to(device)
    distance = distance.to(device)
    seen = train.seen()  # (n_users, m): excluded from every ranking
    generator = torch.Generator().manual_seed(options.seed)
    monitor = torch.randperm(train.n_users, generator=generator)[: options.monitor_users]
    monitor = monitor.sort().values.to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=options.lr, weight_decay=options.weight_decay
    )

    def diversity_loss(scores: torch.Tensor, users: torch.Tensor, total: int | None = None):
        """L_DDRO: soft top-k diversity of ``users`` (training items excluded), summed and divided by
        ``total`` (default: their number); NaN when the scores are not finite, so that the step
        reports a diverged run instead of bad input."""
        if not torch.isfinite(scores.detach().sum()):
            return scores.sum() * float("nan")
        return ddro(
            scores, distance=distance, k=diversity.k, eps=diversity.eps, tau=diversity.tau,
            exclude=seen[users], offset=diversity.offset, top_m=diversity.top_m,
        ).sum() / (total or len(users))  # fmt: skip

    @torch.no_grad()
    def hard_diversity(scores: torch.Tensor, users: torch.Tensor, total: int | None = None):
        """DRO@k of ``users`` from the same scores, summed and divided like ``diversity_loss``."""
        exclude = seen[users]
        return dro(scores, distance=distance, k=diversity.k, exclude=exclude).sum() / (
            total or len(users)
        )

    steps, epochs = [], []
    best = (float("inf"), 0, snapshot(model))
    last_good, step = snapshot(model), 0
    for epoch in range(1, options.epochs + 1):
        model.train()
        for batch in train.batches(options.batch_size, generator):
            step += 1
            users = _user_batch(train.n_users, options.users_per_step, generator).to(device)
            totals = (len(batch), len(users))  # global batch sizes
            batch, users = _my_share(batch), _my_share(users)
            ratings = (train.users[batch], train.items[batch], train.ratings[batch])
            losses = (diversity_loss, hard_diversity)
            if options.method == "mdr":
                record = _mdr_step(model, optimizer, ratings, users, options, losses)
            else:
                record = _ddt_step(model, optimizer, ratings, users, totals, options, losses)
            check_finite(record.pop("loss"), step=step, last_good=last_good, epoch=epoch - 1)
            steps.append({"step": step, "epoch": epoch} | record)
        model.eval()
        epoch_beta = sum(s["beta"] for s in steps if s["epoch"] == epoch) / max(
            sum(1 for s in steps if s["epoch"] == epoch), 1
        )
        summary = _evaluate(model, val, monitor, seen, distance, diversity, diversity_loss)
        summary["val_joint"] = epoch_beta * summary["val_mse"] - (1 - epoch_beta) * summary["ddro"]
        epochs.append({"epoch": epoch, "beta": epoch_beta} | summary)
        last_good = snapshot(model)
        if summary["val_joint"] < best[0]:
            best = (summary["val_joint"], epoch, last_good)
    selected = best if options.select == "best" else (None, options.epochs, last_good)
    return TrainResult(
        final_state=last_good,
        selected_state=selected[2],
        selected_epoch=selected[1],
        steps=pl.DataFrame(steps),
        epochs=pl.DataFrame(epochs),
    )


def _ddt_step(model, optimizer, ratings, users, totals, options, losses) -> dict:
    """One DDT step (Alg. 1): static β, or β* from the two gradients; ``totals`` are the global sizes."""
    diversity_loss, hard_diversity = losses
    user_ids, item_ids, values = ratings
    mse = ((model(user_ids, item_ids) - values) ** 2).sum() / totals[0]
    scores = model.score_all(users)
    soft_diversity = diversity_loss(scores, users, totals[1])
    optimizer.zero_grad()
    parameters = [p for p in model.parameters() if p.requires_grad]
    losses = _all_sum(torch.stack([mse.detach(), soft_diversity.detach()]))
    record = {"mse": float(losses[0]), "ddro": float(losses[1])}
    if not torch.isfinite(losses.sum()):
        return record | {"beta": options.beta, "loss": losses.sum()}
    record["dro"] = float(_all_sum(hard_diversity(scores.detach(), users, totals[1])))
    if options.method == "ddt":
        beta = options.beta
        (beta * mse - (1 - beta) * soft_diversity).backward()
        for parameter in parameters:
            parameter.grad = _all_sum(_zero_if_none(parameter.grad, parameter))
        record |= {"beta": beta}
    else:
        g_rel = torch.autograd.grad(mse, parameters, retain_graph=True, allow_unused=True)
        g_div = torch.autograd.grad(-soft_diversity, parameters, allow_unused=True)
        g_rel = [_all_sum(_zero_if_none(g, p)) for g, p in zip(g_rel, parameters, strict=True)]
        g_div = [_all_sum(_zero_if_none(g, p)) for g, p in zip(g_div, parameters, strict=True)]
        metric = _adam_metric(optimizer, parameters)
        flat_rel = torch.cat([(g * w).flatten() for g, w in zip(g_rel, metric, strict=True)])
        flat_div = torch.cat([(g * w).flatten() for g, w in zip(g_div, metric, strict=True)])
        beta = adaptive_beta(flat_rel, flat_div, normalize=options.adaptive_rule == "normalized")
        low, high = feasible_beta_interval(flat_rel, flat_div)
        for parameter, rel, div in zip(parameters, g_rel, g_div, strict=True):
            parameter.grad = beta * rel + (1 - beta) * div
        a, b = float(flat_rel.norm()), float(flat_div.norm())
        rho = float(flat_rel @ flat_div) / (a * b) if a * b > 0 else 0.0
        record |= {"beta": beta, "a": a, "b": b, "rho": rho, "beta_low": low, "beta_high": high}
    optimizer.step()
    return record | {"loss": beta * losses[0] - (1 - beta) * losses[1]}


def mdr_weights(
    model, ratings, users, *, beta: float, meta_lr: float, diversity_loss
) -> torch.Tensor:
    """MDR's example weights for one batch (Alg. 2, steps 1–5): non-negative, summing to 1 (or all 0).

    ``w`` starts at 0; the look-ahead Θ' = Θ − η ∇_Θ Σ_j w_j ℓ_j(Θ) keeps its dependence on w
    (``create_graph``), so ∂L_JOINT(Θ')/∂w_j = −η ⟨∇_Θ' L_JOINT, ∇_Θ ℓ_j⟩ at w = 0.
    """
    user_ids, item_ids, values = ratings
    params = dict(model.named_parameters())
    weights = torch.zeros_like(values, requires_grad=True)
    losses = (functional_call(model, params, (user_ids, item_ids)) - values) ** 2
    grads = torch.autograd.grad((weights * losses).sum(), list(params.values()), create_graph=True)
    ahead = {name: p - meta_lr * g for (name, p), g in zip(params.items(), grads, strict=True)}
    mse_ahead = ((functional_call(model, ahead, (user_ids, item_ids)) - values) ** 2).mean()
    scores_ahead = functional_call(_ScoreAll(model), _prefixed(ahead), (users,))
    meta = beta * mse_ahead - (1 - beta) * diversity_loss(scores_ahead, users)
    (weight_grad,) = torch.autograd.grad(meta, weights)
    rectified = (-weight_grad).clamp_min(0.0)
    return (rectified / (rectified.sum() + MDR_EPSILON)).detach()


def _mdr_step(model, optimizer, ratings, users, options, losses) -> dict:
    diversity_loss, hard_diversity = losses
    user_ids, item_ids, values = ratings
    meta_lr = options.meta_lr if options.meta_lr is not None else options.lr
    weights = mdr_weights(
        model, ratings, users, beta=options.beta, meta_lr=meta_lr, diversity_loss=diversity_loss
    )
    errors = (model(user_ids, item_ids) - values) ** 2
    loss = (weights * errors).sum()
    if not torch.isfinite(loss + weights.sum()):
        return {
            "mse": float("nan"),
            "ddro": float("nan"),
            "beta": options.beta,
            "loss": loss.detach() * float("nan"),
        }
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        scores = model.score_all(users)
        soft_diversity = diversity_loss(scores, users)
    return {
        "mse": float(errors.detach().mean()),
        "ddro": float(soft_diversity),
        "dro": float(hard_diversity(scores, users)),
        "beta": options.beta,
        "weight_max": float(weights.max()),
        "loss": loss.detach(),
    }


@torch.no_grad()
def _evaluate(model, val, monitor, seen, distance, diversity, diversity_loss) -> dict:
    scores = model.score_all(monitor)
    hard = dro(scores, distance=distance, k=diversity.k, exclude=seen[monitor]).mean()
    return {
        "val_mse": mean_squared_error(model, val),
        "dro": float(hard),
        "ddro": float(diversity_loss(scores, monitor)),
    }


class _ScoreAll(nn.Module):
    """``model.score_all`` as a forward pass, so that ``functional_call`` can run it at Θ'."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, users: torch.Tensor) -> torch.Tensor:
        return self.model.score_all(users)


def _prefixed(params: dict) -> dict:
    return {f"model.{name}": value for name, value in params.items()}


def _user_batch(n_users: int, size: int | None, generator: torch.Generator) -> torch.Tensor:
    if size is None or size >= n_users:
        return torch.arange(n_users)
    return torch.randperm(n_users, generator=generator)[:size].sort().values


def _adam_metric(optimizer: torch.optim.Optimizer, parameters: list) -> list[torch.Tensor]:
    r"""Per-entry :math:`(\sqrt{\hat v} + \epsilon)^{-1/2}`, the square root of Adam's preconditioner.

    Adam moves along :math:`P g` with :math:`P = \mathrm{diag}(1/(\sqrt{\hat v} + \epsilon))`, so β* is
    the min-norm point in the metric ⟨x, y⟩_P: only there is −P g_β* a descent direction for both
    losses. Ones before the first step (P = I, plain gradients).
    """
    group = optimizer.param_groups[0]
    beta2, eps = group["betas"][1], group["eps"]
    metric = []
    for parameter in parameters:
        state = optimizer.state.get(parameter, {})
        if "exp_avg_sq" not in state:
            metric.append(torch.ones_like(parameter))
            continue
        v_hat = state["exp_avg_sq"] / (1 - beta2 ** float(state["step"]))
        metric.append((v_hat.sqrt() + eps).rsqrt())
    return metric


def _zero_if_none(grad: torch.Tensor | None, parameter: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(parameter) if grad is None else grad


def _world() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _my_share(indices: torch.Tensor) -> torch.Tensor:
    """This rank's share of a global batch: every W-th entry from its rank on (all of it alone)."""
    return indices if _world() == 1 else indices[dist.get_rank() :: _world()]


def _all_sum(tensor: torch.Tensor) -> torch.Tensor:
    """The sum of ``tensor`` over ranks (itself when not distributed)."""
    if _world() > 1:
        tensor = tensor.clone()
        dist.all_reduce(tensor)
    return tensor
