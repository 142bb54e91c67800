r"""Training for relevance and top-k diversity jointly: DDT (static or adaptive β) and MDR.

The joint objective is eq. (10) of the paper (:func:`divlib.tradeoff.joint_loss`):

.. math:: L_{JOINT} = \beta\, L_{MSE} - (1 - \beta)\, L_{DDRO}

with L_MSE on a mini-batch of ratings and L_DDRO the mean of :func:`divlib.objectives.ddro` over a batch
of users, ranked over the whole catalogue with their training items excluded.

* **DDT** (Alg. 1): a gradient step on L_JOINT. With ``method="ddt-adaptive"`` β is chosen at every step
  by :func:`divlib.tradeoff.combine_gradients` from g_rel = ∇L_MSE and g_div = −∇L_DDRO over all
  parameters. ``adaptive_rule`` (:data:`ADAPTIVE_RULES`): ``"min-norm"`` is the paper's β* (MGDA
  min-norm point of the raw gradients); ``"min-norm-adam"`` takes it in AdamW's metric
  (:func:`divlib.tradeoff.adam_metric`, so that the chosen direction is a common descent direction of
  the step actually taken); ``"normalized"`` is b/(a+b) in that metric. The step logs a = ‖g_rel‖,
  b = ‖g_div‖, ρ (in the metric used), β and the feasible interval of Lemma 3.
* **MDR** (Alg. 2, Ren et al. 2018): per batch, weights w = 0 on its ratings; a look-ahead
  Θ' = Θ − η ∇_Θ Σ_j w_j ℓ_j; the meta loss L_JOINT(Θ') (its L_MSE unweighted, as in the official
  code); w̃ = max(−∂L_JOINT(Θ')/∂w, 0), w = w̃ / (Σ w̃ + ϵ); then a step on Σ_j w_j ℓ_j. The
  look-ahead's η is the run's ``lr``: ∂L_JOINT(Θ')/∂w is linear in η (below), so the normalised
  weights do not depend on it but through ϵ (w = s⁺ / (Σ s⁺ + ϵ/η)); a separate η would be a
  setting without effect.

**Gradients.** A user's DDRO depends differentiably on only a few of its scores S_ui = r̂_ui(Θ) (the
window of its M best items, :mod:`divlib._window`). So the scores are computed without autograd, the
sparse G = ∂L_DDRO/∂S is taken on them, and

.. math:: \nabla_\Theta L_{DDRO} = \sum_{(u, i):\, G_{ui} \ne 0} G_{ui}\, \nabla_\Theta \hat r_{ui}(\Theta)

is back-propagated through the model's ``forward`` on those pairs only: the gradient through
``score_all``, up to summation order. MDR needs no differentiable look-ahead: at w = 0, Θ' = Θ, so

.. math:: \frac{\partial L_{JOINT}(\Theta')}{\partial w_j}
          = -\eta\, \langle \nabla_\Theta L_{JOINT}(\Theta),\, \nabla_\Theta \ell_j(\Theta) \rangle,

one gradient of L_JOINT (its L_DDRO part as above) and the derivatives of all ℓ_j along it, one
Jacobian–vector product on the batch's ratings.

Both regimes use the same function: pass a pretrained model to fine-tune, a fresh one to train from
scratch.

**Data parallel** under ``torch.distributed`` (see :mod:`divlib.train.parallel`): after the backward
pass the logged values and the gradients (g_rel and g_div apart, for "ddt-adaptive") are summed over
ranks in one call, before β is chosen. MDR is not supported there (its look-ahead would have to be
distributed too).
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.autograd.functional import jvp
from torch.func import functional_call
from torch.profiler import record_function

from divlib._validate import (
    Count,
    Fraction,
    ListLength,
    NonNegative,
    Positive,
    check_fields,
    check_window,
)
from divlib.errors import DivlibError
from divlib.objectives import ddro_and_dro, dro
from divlib.similarity import ItemDistance
from divlib.tradeoff import adam_metric, combine_gradients, joint_loss
from divlib.train.common import Step, TrainResult, explosion_limit, mean_squared_error, run_epochs
from divlib.train.interactions import Interactions, SeenItems
from divlib.train.parallel import my_share, sum_over_ranks, world_size

MDR_EPSILON = 1e-8  # ϵ of the weight normalisation (Alg. 2)
ADAPTIVE_RULES = {  # rule: (β of combine_gradients, in AdamW's metric?)
    "min-norm": ("min-norm", False),  # the paper's β*
    "min-norm-adam": ("min-norm", True),
    "normalized": ("normalized", True),
}
FINETUNE_METHODS = (
    "ddt",
    "ddt-adaptive",
    "mdr",
)  # DDT with a static β, DDT with β chosen per step, MDR
SELECTIONS = ("last", "best", "most-diverse")


@dataclass(frozen=True)
class DiversityOptions:
    """The DDRO settings; see :func:`divlib.objectives.ddro`. Each field's annotation is its check
    (:func:`divlib._validate.check_fields`) and the schema of params.yaml's ``diversity``."""

    k: ListLength = 10
    eps: Positive = 1e-3
    tau: Positive = 1.0
    offset: Fraction = 0.0
    top_m: Count | Literal["auto"] | None = "auto"  # more than k

    def __post_init__(self):
        check_fields(self)
        check_window(self.top_m, self.k)


@dataclass(frozen=True)
class FinetuneOptions:
    """Settings of one run of :func:`finetune`; each field's annotation is its check
    (:func:`divlib._validate.check_fields`) and the schema of params.yaml's ``finetune`` section."""

    method: Literal[FINETUNE_METHODS]
    beta: Fraction  # β of eq. (10); ignored by "ddt-adaptive", which chooses β at every step
    epochs: Count
    lr: Positive
    batch_size: Count
    users_per_step: Count | None = None  # users in each L_DDRO batch; None: all users (the paper)
    weight_decay: NonNegative = 0.0
    seed: int = 0  # batch order and user batches
    select: Literal[SELECTIONS] = "last"  # "best": lowest validation L_JOINT;
    # "most-diverse": highest DRO@k of the monitored users (the paper's selection; no test data)
    monitor_users: Count = 256  # fixed users on which DRO@k and DDRO are tracked per epoch
    adaptive_rule: Literal[tuple(ADAPTIVE_RULES)] = "min-norm"

    def __post_init__(self):
        check_fields(self)


@dataclass(frozen=True)
class DiversityLoss:
    """Per-user top-k diversity of a batch of users' scores over the catalogue, each user's training
    items excluded: soft (DDRO, eq. 9; L_DDRO is its mean) and hard (DRO@k, eq. 5).

    Both give NaN for rows of non-finite scores, so that a step reports a diverged run.
    """

    distance: ItemDistance
    seen: torch.Tensor | SeenItems  # seen[users]: the users' (B, m) bool training items
    options: DiversityOptions

    def soft(self, scores: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        """``(B,)`` DDRO of ``users``' soft top-k, differentiable in ``scores``."""
        return self.soft_and_hard(scores, users)[0]

    def soft_and_hard(
        self, scores: torch.Tensor, users: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B,)`` :meth:`soft` and ``(B,)`` :meth:`hard` from one ranking pass
        (:func:`divlib.objectives.ddro_and_dro`)."""
        if not torch.isfinite(scores.detach().sum()):
            nan = scores.sum(dim=1) * float("nan")
            return nan, nan.detach()
        o = self.options
        return ddro_and_dro(
            scores,
            distance=self.distance,
            k=o.k,
            eps=o.eps,
            tau=o.tau,
            exclude=self.seen[users],
            offset=o.offset,
            top_m=o.top_m,
        )

    @torch.no_grad()
    def hard(self, scores: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        """``(B,)`` DRO@k of ``users``' top-k lists."""
        if not torch.isfinite(scores.sum()):
            return scores.new_full((len(users),), float("nan"))
        return dro(scores, distance=self.distance, k=self.options.k, exclude=self.seen[users])


@dataclass(frozen=True)
class Batch:
    """This rank's share of one global batch: ratings, and the users whose L_DDRO is taken, with the
    global sizes that the losses' sums are divided by."""

    users: torch.Tensor
    items: torch.Tensor
    ratings: torch.Tensor
    ranked: torch.Tensor  # users of L_DDRO
    n_ratings: int
    n_ranked: int

    def mse(self, model: nn.Module) -> torch.Tensor:
        """L_MSE of the batch's ratings (this rank's share of the sum)."""
        return ((model(self.users, self.items) - self.ratings) ** 2).sum() / self.n_ratings


def finetune(
    model: nn.Module,
    train: Interactions,
    val: Interactions,
    *,
    distance: ItemDistance,
    diversity: DiversityOptions,
    options: FinetuneOptions,
    device: torch.device | str,
    name: str = "fine-tuning",
) -> TrainResult:
    """Train ``model`` on L_JOINT by DDT or MDR; returns states and per-step and per-epoch records.

    Per step: mse, ddro and the hard dro (DRO@k) of the step's users from the same scores (before the
    update), beta (and a, b, rho, beta_low, beta_high for "ddt-adaptive"),
    weight_max for MDR. Per epoch: val_mse, the monitor users' hard ``dro`` (DRO@k) and ``ddro``, and
    val_joint = β·val_mse − (1−β)·ddro (β averaged over the epoch when adaptive), which
    ``select="best"`` minimises; ``select="most-diverse"`` keeps the epoch of highest monitored ``dro``.

    ``name`` labels the run's log lines and errors. Raises :class:`~divlib.errors.TrainingDiverged`
    when a loss is not finite or an MSE explodes (:func:`~divlib.train.common.explosion_limit`).
    """
    if options.method == "mdr" and world_size() > 1:
        raise DivlibError("method mdr does not run under torch.distributed; use ddt")
    if diversity.k >= train.n_items:
        raise DivlibError(
            f"diversity k = {diversity.k} must be below the {train.n_items} items of the catalogue"
        )
    model.to(device)
    train, val = train.to(device), val.to(device)
    limit = explosion_limit(model, val)
    # a step that ranks every user needs the whole (n_users, m) mask anyway: build it once (not
    # under data parallelism, where each rank ranks only its share of the users)
    every_user = options.users_per_step is None or options.users_per_step >= train.n_users
    seen = train.seen() if every_user and world_size() == 1 else train.seen_items()
    loss = DiversityLoss(distance.to(device), seen, diversity)
    generator = torch.Generator().manual_seed(options.seed)
    monitor = torch.randperm(train.n_users, generator=generator)[: options.monitor_users]
    monitor = monitor.sort().values.to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=options.lr, weight_decay=options.weight_decay
    )

    def steps():
        return epoch_steps(model, optimizer, train, loss, options, generator=generator)

    @torch.no_grad()
    def summarize(records: list[dict]) -> dict:
        beta = sum(record["beta"] for record in records) / max(len(records), 1)
        scores = model.score_all(monitor)
        summary = {
            "beta": beta,
            "val_mse": mean_squared_error(model, val),
            "dro": float(loss.hard(scores, monitor).mean()),
            "ddro": float(loss.soft(scores, monitor).sum() / len(monitor)),
        }
        return summary | {"val_joint": joint_loss(summary["val_mse"], summary["ddro"], beta)}

    diverse = options.select == "most-diverse"
    return run_epochs(
        model,
        epochs=options.epochs,
        steps=steps,
        summarize=summarize,
        objective="dro" if diverse else "val_joint",
        maximize=diverse,
        select="last" if options.select == "last" else "best",
        start_is_good=True,
        mse_limit=limit,
        name=name,
    )


def epoch_steps(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    train: Interactions,
    loss: DiversityLoss,
    options: FinetuneOptions,
    *,
    generator: torch.Generator,
) -> Iterator[Step]:
    """One epoch of ``options.method``'s steps, as :func:`finetune` runs them: a shuffled pass over
    ``train`` in batches of ``options.batch_size`` ratings, each step with its own
    ``options.users_per_step`` users of L_DDRO (all users when None), all drawn from ``generator``.
    Yields each step's loss and record; this rank's share of each batch under data parallelism.

    A DDT step's phases are labelled for :mod:`torch.profiler`: ``scores`` (``score_all`` of the
    step's users, no graph), ``ddro`` (DDRO, its gradient in the scores, and DRO@k), ``backward`` (the
    surrogate's forward pass and the backward pass of L_JOINT); the optimizer labels its own step.
    """
    step = _mdr_step if options.method == "mdr" else _ddt_step
    device = train.users.device
    for ratings in train.batches(options.batch_size, generator):
        users = _user_batch(train.n_users, options.users_per_step, generator).to(device)
        mine = my_share(ratings)
        batch = Batch(
            train.users[mine],
            train.items[mine],
            train.ratings[mine],
            my_share(users),
            len(ratings),
            len(users),
        )
        yield step(model, optimizer, batch, loss, options)


def _ddt_step(model, optimizer, batch: Batch, loss: DiversityLoss, options) -> Step:
    """One DDT step (Alg. 1) on L_JOINT, eq. (10), at a static β or at β* of the two gradients."""
    mse = batch.mse(model)
    soft, hard, surrogate = _ddro_surrogate(model, loss, batch.ranked, batch.n_ranked)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer.zero_grad()
    with record_function("backward"):
        if options.method == "ddt":
            joint_loss(mse, surrogate, options.beta).backward()
            gradients = [[_zero_if_none(p.grad, p) for p in parameters]]
        else:
            g_rel = torch.autograd.grad(mse, parameters, allow_unused=True)
            g_div = torch.autograd.grad(-surrogate, parameters, allow_unused=True)
            gradients = [
                [_zero_if_none(g, p) for g, p in zip(grads, parameters, strict=True)]
                for grads in (g_rel, g_div)
            ]
    (values, *gradients) = sum_over_ranks([torch.stack([mse.detach(), soft, hard])], *gradients)
    mse_value, soft_value, hard_value = values[0]
    record = {"mse": float(mse_value), "ddro": float(soft_value)}
    if not torch.isfinite(mse_value + soft_value):
        return mse_value + soft_value, record | {"beta": options.beta}
    record["dro"] = float(hard_value)
    if options.method == "ddt":
        beta, logged, (combined,) = options.beta, {}, gradients
    else:
        rule, in_adam_metric = ADAPTIVE_RULES[options.adaptive_rule]
        metric = adam_metric(optimizer, parameters) if in_adam_metric else None
        combined, chosen = combine_gradients(*gradients, metric=metric, rule=rule)
        beta, logged = chosen.beta, chosen.logged()
    for parameter, gradient in zip(parameters, combined, strict=True):
        parameter.grad = gradient
    optimizer.step()
    return joint_loss(mse_value, soft_value, beta), record | {"beta": beta} | logged


def mdr_weights(
    model: nn.Module,
    ratings: tuple,
    users: torch.Tensor,
    *,
    beta: float,
    meta_lr: float,
    loss: DiversityLoss,
) -> torch.Tensor:
    """MDR's example weights for one batch (Alg. 2, steps 1–5): non-negative, summing to 1 (or all 0).

    ∂L_JOINT(Θ')/∂w_j = −η ⟨∇_Θ L_JOINT, ∇_Θ ℓ_j⟩ at w = 0 (module docstring): the gradient of
    L_JOINT, then the derivatives of all ℓ_j along it as one Jacobian–vector product (by
    :func:`torch.autograd.functional.jvp`, the double-backward trick). All NaN if L_DDRO is not finite.
    """
    return _look_ahead(model, ratings, users, beta=beta, meta_lr=meta_lr, loss=loss)[0]


def _look_ahead(
    model: nn.Module,
    ratings: tuple,
    users: torch.Tensor,
    *,
    beta: float,
    meta_lr: float,
    loss: DiversityLoss,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`mdr_weights`, with L_DDRO and the mean DRO@k at Θ that it computed on the way."""
    user_ids, item_ids, values = ratings
    names, params = zip(*model.named_parameters(), strict=True)

    def losses(*at: torch.Tensor) -> torch.Tensor:
        state = dict(zip(names, at, strict=True))
        return (functional_call(model, state, (user_ids, item_ids)) - values) ** 2

    soft, hard, surrogate = _ddro_surrogate(model, loss, users, len(users))
    if not torch.isfinite(soft):
        return torch.full_like(values, float("nan")), soft, hard
    meta = joint_loss(losses(*params).mean(), surrogate, beta)
    grads = torch.autograd.grad(meta, params, allow_unused=True)
    along = tuple(_zero_if_none(g, p) for g, p in zip(grads, params, strict=True))
    at = tuple(p.detach() for p in params)
    _, slopes = jvp(losses, at, along)  # ⟨∇_Θ L_JOINT, ∇_Θ ℓ_j⟩ per j
    weight_grad = (-meta_lr * slopes).to(values.dtype)  # ∂L_JOINT(Θ')/∂w, w of the ratings' dtype
    rectified = (-weight_grad).clamp_min(0.0)
    return rectified / (rectified.sum() + MDR_EPSILON), soft, hard


def _mdr_step(model, optimizer, batch: Batch, loss: DiversityLoss, options) -> Step:
    """One MDR step (Alg. 2): weights from the look-ahead (η = ``options.lr``, module docstring),
    then a step on Σ_j w_j ℓ_j. DDRO and DRO@k are logged from the scores before the step (as
    DDT's), which the look-ahead computed."""
    ratings = (batch.users, batch.items, batch.ratings)
    weights, soft, hard = _look_ahead(
        model, ratings, batch.ranked, beta=options.beta, meta_lr=options.lr, loss=loss
    )
    share = len(batch.ranked) / batch.n_ranked
    soft, hard = soft * share, hard * share
    errors = (model(batch.users, batch.items) - batch.ratings) ** 2
    weighted = (weights * errors).sum()
    if not torch.isfinite(weighted + weights.sum()):
        nan = float("nan")
        return weighted.detach() * nan, {"mse": nan, "ddro": nan, "beta": options.beta}
    optimizer.zero_grad()
    weighted.backward()
    optimizer.step()
    return weighted.detach(), {
        "mse": float(errors.detach().mean()),
        "ddro": float(soft),
        "dro": float(hard),
        "beta": options.beta,
        "weight_max": float(weights.max()),
    }


def _ddro_surrogate(
    model: nn.Module, loss: DiversityLoss, users: torch.Tensor, n_ranked: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``users``' shares Σ_u DDRO_u / ``n_ranked`` of L_DDRO and Σ_u DRO@k_u / ``n_ranked`` of the
    mean DRO@k, both without a graph, and Σ G_ui r̂_ui(Θ) over the pairs of nonzero
    G = ∂L_DDRO/∂S: a surrogate with L_DDRO's gradient in the parameters (module docstring); when
    L_DDRO is not finite (a diverged step) it is 0, of gradient 0."""
    with torch.no_grad(), record_function("scores"):
        scores = model.score_all(users)
    with record_function("ddro"):
        soft, hard = loss.soft_and_hard(scores.requires_grad_(), users)
        soft, hard = soft.sum() / n_ranked, hard.sum() / n_ranked
        if torch.isfinite(soft):
            (slopes,) = torch.autograd.grad(soft, scores)
        else:
            slopes = torch.zeros_like(scores)
        rows, items = slopes.nonzero(as_tuple=True)
    with record_function("backward"):
        surrogate = (slopes[rows, items] * model(users[rows], items)).sum()
    return soft.detach(), hard, surrogate


def _user_batch(n_users: int, size: int | None, generator: torch.Generator) -> torch.Tensor:
    if size is None or size >= n_users:
        return torch.arange(n_users)
    return torch.randperm(n_users, generator=generator)[:size].sort().values


def _zero_if_none(grad: torch.Tensor | None, parameter: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(parameter) if grad is None else grad
