"""The fast training steps against plain autograd: DDT's sparse L_DDRO backward pass, MDR's weights from
one gradient and a Jacobian–vector product, NCF's chunked ``score_all``, and gradients that repeat bit
for bit on several threads."""

import math
from dataclasses import replace

import pytest
import torch
from torch import nn
from torch.func import functional_call

import divlib.models
from divlib import GroupedDistance
from divlib.models import NCF, build_model
from divlib.tradeoff import combine_gradients, joint_loss
from divlib.train import DiversityLoss, DiversityOptions, FinetuneOptions, mdr_weights
from divlib.train.diversify import MDR_EPSILON, Batch, _ddt_step, _mdr_step

N_USERS, N_ITEMS, WINDOW = 12, 200, 34
RANKED = torch.tensor([0, 2, 3, 5, 7, 8, 10, 11])  # not 0..B−1: rows and user ids differ
N_RANKED = 10  # the global count, as for one rank's share under data parallelism


def tiny(name: str) -> tuple[nn.Module, Batch, DiversityLoss]:
    """A float64 model with spread-out scores, 40 ratings, and DDRO over a window of 34 of 200 items
    at an ε where some rows are certified (few nonzero score gradients) and some fall back."""
    generator = torch.Generator().manual_seed(0)
    model = build_model(name, n_users=N_USERS, n_items=N_ITEMS, dim=4, seed=0).double()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=torch.float64))
            if name == "nmf":
                parameter.abs_()  # away from relu's kink, no tied zero scores
    users = torch.randint(N_USERS, (40,), generator=generator)
    items = torch.randint(N_ITEMS, (40,), generator=generator)
    ratings = torch.randint(1, 6, (40,), generator=generator).double()
    seen = torch.rand(N_USERS, N_ITEMS, generator=generator) < 0.1
    seen[users, items] = True
    categories = torch.rand(N_ITEMS, 5, generator=generator) < 0.4
    distance = GroupedDistance.from_categories(categories).to(dtype=torch.float64)
    with torch.no_grad():
        spread = float(model.score_all(torch.arange(N_USERS)).std())
    options = DiversityOptions(k=3, eps=0.012 * spread, tau=1.0, top_m=WINDOW)
    batch = Batch(users, items, ratings, RANKED, len(ratings), N_RANKED)
    return model, batch, DiversityLoss(distance, seen, options)


def score_gradient(model: nn.Module, loss: DiversityLoss) -> torch.Tensor:
    scores = model.score_all(RANKED).detach().requires_grad_()
    return torch.autograd.grad(loss.soft(scores, RANKED).sum(), scores)[0]


@pytest.mark.parametrize("name", ["nmf", "mf", "ncf"])
def test_the_tiny_problems_have_sparse_and_fallback_rows(name):
    model, _, loss = tiny(name)
    nonzero = (score_gradient(model, loss) != 0).sum(dim=1)
    assert ((nonzero > 0) & (nonzero <= 2 * WINDOW)).any()  # a certified cut, between M and 2M
    assert (nonzero > 2 * WINDOW).any()  # a row redone over the whole catalogue


def reference_gradients(model: nn.Module, batch: Batch, loss: DiversityLoss) -> tuple:
    """g_rel = ∇L_MSE and g_div = −∇L_DDRO by autograd through the full score matrix, and the
    logged mse, ddro and dro."""
    parameters = list(model.parameters())
    mse = batch.mse(model)
    scores = model.score_all(batch.ranked)
    soft = loss.soft(scores, batch.ranked).sum() / batch.n_ranked
    hard = loss.hard(scores, batch.ranked).sum() / batch.n_ranked
    g_rel = torch.autograd.grad(mse, parameters)
    g_div = torch.autograd.grad(-soft, parameters)
    logged = {"mse": mse.item(), "ddro": soft.item(), "dro": hard.item()}
    return g_rel, g_div, logged


@pytest.mark.parametrize("name", ["nmf", "mf", "ncf"])
@pytest.mark.parametrize(
    ("method", "rule"),
    [("ddt", "min-norm"), ("ddt-adaptive", "min-norm"), ("ddt-adaptive", "normalized")],
)
def test_ddt_step_gradient_equals_autograd_through_all_scores(name, method, rule):
    model, batch, loss = tiny(name)
    g_rel, g_div, logged = reference_gradients(model, batch, loss)
    if method == "ddt":
        expected = [0.3 * rel + 0.7 * div for rel, div in zip(g_rel, g_div, strict=True)]
    else:
        expected, chosen = combine_gradients(g_rel, g_div, rule=rule)  # AdamW's metric: 1 at first
        logged |= chosen.logged() | {"beta": chosen.beta}
    options = FinetuneOptions(
        method=method, beta=0.3, epochs=1, lr=0.01, batch_size=40, adaptive_rule=rule
    )
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.0, weight_decay=0.0)  # keeps Θ
    loss_value, record = _ddt_step(model, optimizer, batch, loss, options)
    for parameter, want, start in zip(model.parameters(), expected, before, strict=True):
        assert torch.equal(parameter.detach(), start)
        torch.testing.assert_close(parameter.grad, want, rtol=1e-9, atol=1e-12)
    assert {key: record[key] for key in logged} == pytest.approx(logged, rel=1e-9, abs=1e-12)
    beta = logged.get("beta", 0.3)
    assert float(loss_value) == pytest.approx(joint_loss(logged["mse"], logged["ddro"], beta))


def reference_mdr_weights(
    model: nn.Module,
    ratings: tuple,
    users: torch.Tensor,
    *,
    beta: float,
    meta_lr: float,
    loss: DiversityLoss,
) -> torch.Tensor:
    """The second-order implementation that the fast one replaced: a look-ahead Θ' = Θ − η ∇Σ w_j ℓ_j
    kept differentiable in w (create_graph), and L_JOINT(Θ') through ``score_all`` at Θ'."""
    user_ids, item_ids, values = ratings
    params = dict(model.named_parameters())
    weights = torch.zeros_like(values, requires_grad=True)
    losses = (functional_call(model, params, (user_ids, item_ids)) - values) ** 2
    grads = torch.autograd.grad((weights * losses).sum(), list(params.values()), create_graph=True)
    ahead = {name: p - meta_lr * g for (name, p), g in zip(params.items(), grads, strict=True)}
    mse_ahead = ((functional_call(model, ahead, (user_ids, item_ids)) - values) ** 2).mean()
    scores_ahead = functional_call(
        ScoreAll(model), {f"model.{n}": v for n, v in ahead.items()}, (users,)
    )
    meta = joint_loss(mse_ahead, loss.soft(scores_ahead, users).sum() / len(users), beta)
    (weight_grad,) = torch.autograd.grad(meta, weights)
    rectified = (-weight_grad).clamp_min(0.0)
    return (rectified / (rectified.sum() + MDR_EPSILON)).detach()


class ScoreAll(nn.Module):
    """``model.score_all`` as a forward pass, so that ``functional_call`` can run it at Θ'."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, users: torch.Tensor) -> torch.Tensor:
        return self.model.score_all(users)


@pytest.mark.parametrize("name", ["nmf", "mf", "ncf"])
@pytest.mark.parametrize("beta", [0.0, 0.4, 1.0])
def test_mdr_weights_equal_the_second_order_look_ahead(name, beta):
    model, batch, loss = tiny(name)
    ratings = (batch.users, batch.items, batch.ratings)
    expected = reference_mdr_weights(model, ratings, RANKED, beta=beta, meta_lr=0.5, loss=loss)
    assert 1 < (expected > 0).sum() < len(expected)  # some clamped, several kept
    weights = mdr_weights(model, ratings, RANKED, beta=beta, meta_lr=0.5, loss=loss)
    torch.testing.assert_close(weights, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("method", ["ddt", "ddt-adaptive", "mdr"])
def test_non_finite_scores_of_a_ranked_user_stop_the_step(method):
    model, batch, loss = tiny("ncf")
    kept = batch.users != 5
    batch = replace(
        batch,
        users=batch.users[kept],
        items=batch.items[kept],
        ratings=batch.ratings[kept],
        n_ratings=int(kept.sum()),
    )
    with torch.no_grad():
        model.users[5] = float("nan")  # ranked, and in no rating of the batch
    before = [p.detach().clone() for p in model.parameters()]
    options = FinetuneOptions(method=method, beta=0.5, epochs=1, lr=0.01, batch_size=40)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    step = _mdr_step if method == "mdr" else _ddt_step
    loss_value, record = step(model, optimizer, batch, loss, options)
    assert not torch.isfinite(loss_value) and math.isnan(record["ddro"])
    for parameter, start in zip(model.parameters(), before, strict=True):
        torch.testing.assert_close(parameter.detach(), start, rtol=0, atol=0, equal_nan=True)


def pairwise_scores(model: NCF, users: torch.Tensor) -> torch.Tensor:
    """r̂ by the plain MLP on every concatenated pair [p_u; q_i], unchunked."""
    m = model.n_items
    pairs = torch.cat(
        [model.users[users].repeat_interleave(m, dim=0), model.items.repeat(len(users), 1)], dim=1
    )
    return model.mlp(pairs).reshape(len(users), m)


@pytest.mark.parametrize("hidden", [None, (6, 5, 3)])
def test_ncf_chunked_score_all_equals_the_mlp_on_all_pairs(monkeypatch, hidden):
    model = NCF(10, 30, 4, generator=torch.Generator().manual_seed(0), hidden=hidden).double()
    first_hidden = model.mlp[0].out_features
    monkeypatch.setattr(divlib.models, "SCORE_CHUNK", 3 * first_hidden * 30 + 1)  # 3, 3, 3, 1 users
    users = torch.tensor([9, 0, 4, 4, 7, 1, 2, 8, 3, 5])
    weights = torch.randn(10, 30, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    scores = model.score_all(users)
    grads = torch.autograd.grad((weights * scores).sum(), list(model.parameters()))
    expected = pairwise_scores(model, users)
    expected_grads = torch.autograd.grad((weights * expected).sum(), list(model.parameters()))
    torch.testing.assert_close(scores, expected, rtol=1e-12, atol=1e-12)
    for grad, want in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, want, rtol=1e-12, atol=1e-12)
    with torch.no_grad():
        torch.testing.assert_close(model.score_all(users), expected, rtol=1e-12, atol=1e-12)
    assert model.score_all(users[:0]).shape == (0, 30)


@pytest.mark.parametrize("name", ["nmf", "mf", "ncf"])
def test_model_gradients_repeat_bit_for_bit_on_several_threads(name):
    # 20,000 pairs × dim 8 is above the 32k numbers where advanced indexing's float32 backward
    # pass adds on several threads in a racing order; the shipped models look rows up by index_select.
    generator = torch.Generator().manual_seed(0)
    model = build_model(name, n_users=50, n_items=40, dim=8, seed=0)
    users = torch.randint(50, (20_000,), generator=generator)
    items = torch.randint(40, (20_000,), generator=generator)
    weights = torch.randn(20_000, generator=generator)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        runs = [
            torch.autograd.grad((weights * model(users, items)).sum(), list(model.parameters()))
            for _ in range(8)
        ]
    finally:
        torch.set_num_threads(threads)
    for run in runs[1:]:
        assert all(torch.equal(a, b) for a, b in zip(runs[0], run, strict=True))
