import pickle
import time

import polars as pl
import pytest
import torch
from reference import brute_dro
from torch import nn
from torch.func import functional_call

from divlib import GroupedDistance, ddro, dro
from divlib.errors import DivlibError, TrainingDiverged
from divlib.models import build_model
from divlib.study.data import canonicalize, category_matrix, split_ratings, synthetic_ratings
from divlib.train import (
    DiversityLoss,
    DiversityOptions,
    FinetuneOptions,
    Interactions,
    PretrainOptions,
    finetune,
    mdr_weights,
    mean_squared_error,
    pretrain,
)
from divlib.train.common import epoch_line, run_epochs


@pytest.fixture(scope="module")
def problem():
    """Synthetic ratings with category structure, split 64/16/20, and their item distance."""
    raw = synthetic_ratings(
        users=150,
        items=300,
        ratings=6000,
        categories=16,
        seed=3,
        preference=0.9,
        preferred_categories=1,
    )
    ratings, items = canonicalize(raw, source="synthetic")
    train, val, _, _ = split_ratings(ratings, test_fraction=0.2, val_fraction=0.2, seed=1)
    sizes = {"n_users": 150, "n_items": 300}
    distance = GroupedDistance.from_categories(category_matrix(items)[0])
    return Interactions.from_frame(train, **sizes), Interactions.from_frame(val, **sizes), distance


def pretrained(problem, name="nmf"):
    train, val, _ = problem
    model = build_model(name, n_users=150, n_items=300, dim=8, seed=0, mean=3.5)
    options = PretrainOptions(epochs=15, lr=0.02, batch_size=512, seed=0)
    result = pretrain(model, train, val, options=options, device="cpu")
    model.load_state_dict(result.selected_state)
    return model, result


@pytest.mark.parametrize("name", ["nmf", "mf", "ncf"])
def test_score_all_agrees_with_forward(name):
    model = build_model(name, n_users=5, n_items=7, dim=3, seed=0)
    users = torch.tensor([0, 3, 4])
    grid = model.score_all(users)  # (3, 7)
    pairs = model(users.repeat_interleave(7), torch.arange(7).repeat(3)).reshape(3, 7)
    torch.testing.assert_close(grid, pairs)


def test_pretraining_lowers_validation_error_and_selects_on_it(problem):
    _, result = pretrained(problem)
    val_mse = [epoch["val_mse"] for epoch in result.epochs]
    assert val_mse[-1] < val_mse[0]
    assert result.selected_epoch == val_mse.index(min(val_mse)) + 1


def test_a_fixed_pretraining_keeps_its_last_epoch(problem):
    train, val, _ = problem
    model = build_model("nmf", n_users=150, n_items=300, dim=8, seed=0)
    options = PretrainOptions(epochs=4, lr=0.05, batch_size=512, seed=0, select="last")
    result = pretrain(model, train, val, options=options, device="cpu")
    assert result.selected_epoch == len(result.epochs) == 4  # no early stop, no selection
    for name, value in result.final_state.items():
        assert torch.equal(result.selected_state[name], value)


def test_ddt_raises_diversity_and_keeps_relevance(problem):
    # Measured here: DRO@10 over all users 0.833 -> 0.966 and validation MSE 0.748 -> 0.751 after
    # 4 epochs at β = 0.5. Asserted with margin: DRO up by > 0.08, MSE up by < 5 %.
    train, val, distance = problem
    model, before = pretrained(problem)
    users, seen = torch.arange(150), train.seen()

    def diversity() -> float:
        with torch.no_grad():
            return dro(model.score_all(users), distance=distance, k=10, exclude=seen).mean().item()

    start_dro, start_mse = diversity(), mean_squared_error(model, val)
    options = FinetuneOptions(method="ddt", beta=0.5, epochs=4, lr=0.01, batch_size=1024, seed=0)
    steps = finetune(
        model,
        train,
        val,
        distance=distance,
        options=options,
        device="cpu",
        diversity=DiversityOptions(k=10, eps=1 / 300),
    ).steps
    assert steps[0]["dro"] == pytest.approx(start_dro)  # all users, before the first update
    assert diversity() > start_dro + 0.08
    assert mean_squared_error(model, val) < 1.05 * start_mse


@pytest.mark.parametrize("method", ["ddt", "ddt-adaptive", "mdr"])
def test_each_method_raises_diversity_over_relevance_only_fine_tuning(problem, method):
    # Measured (NMF, 4 epochs from the same pretrained model): DRO@10 of all users 0.870 for the
    # β = 1 control, 0.966 DDT (β = 0.5), 0.961 DDT-adaptive, 0.966 MDR (β = 0.5); validation MSE
    # 0.746 for the control, at most 0.762 for the others. A diversity gradient of the wrong sign
    # or a step that ignores L_DDRO falls to the control or below.
    train, val, distance = problem
    users, seen = torch.arange(150), train.seen()
    outcome = {}
    for name, beta in (("control", 1.0), (method, 0.5)):
        model, _ = pretrained(problem)
        options = FinetuneOptions(
            method="ddt" if name == "control" else method,
            beta=beta,
            epochs=4,
            lr=0.01,
            batch_size=1024,
            seed=0,
        )
        finetune(
            model,
            train,
            val,
            distance=distance,
            options=options,
            device="cpu",
            diversity=DiversityOptions(k=10, eps=1 / 300),
        )
        with torch.no_grad():
            diversity = dro(model.score_all(users), distance=distance, k=10, exclude=seen).mean()
        outcome[name] = (float(diversity), mean_squared_error(model, val))
    assert outcome[method][0] > outcome["control"][0] + 0.05
    assert outcome[method][1] < 1.05 * outcome["control"][1]


def test_the_diversity_loss_is_ddro_and_dro_of_the_users_unseen_items(problem):
    train, _, distance = problem
    options = DiversityOptions(k=5, eps=0.01)
    loss = DiversityLoss(distance, train.seen(), options)
    users = torch.tensor([3, 17, 40])
    scores = torch.randn(3, 300, generator=torch.Generator().manual_seed(4))
    exclude = train.seen()[users]
    torch.testing.assert_close(
        loss.soft(scores, users), ddro(scores, distance=distance, k=5, eps=0.01, exclude=exclude)
    )
    assert torch.equal(
        loss.hard(scores, users), dro(scores, distance=distance, k=5, exclude=exclude)
    )
    scores[1, 0] = float("nan")
    assert loss.soft(scores, users).isnan().all() and loss.hard(scores, users).isnan().all()


def test_same_seed_same_run(problem):
    train, val, distance = problem
    runs, start = [], time.perf_counter()
    for _ in range(2):
        model, _ = pretrained(problem)
        options = FinetuneOptions(
            method="ddt-adaptive",
            beta=0.5,
            epochs=2,
            lr=0.01,
            batch_size=700,
            users_per_step=64,
            seed=7,
        )
        runs.append(
            finetune(
                model,
                train,
                val,
                distance=distance,
                options=options,
                diversity=DiversityOptions(k=5, eps=1 / 300),
                device="cpu",
            )
        )
    seconds = runs[0].step_seconds  # wall time per step, apart from the records
    assert len(seconds) == len(runs[0].steps) and "seconds" not in runs[0].steps[0]
    assert min(seconds) > 0 and sum(seconds) < time.perf_counter() - start
    assert runs[0].steps == runs[1].steps and runs[0].epochs == runs[1].epochs
    for name, value in runs[0].final_state.items():
        assert torch.equal(value, runs[1].final_state[name])


@pytest.mark.parametrize("rule", ["normalized", "min-norm", "min-norm-adam"])
def test_adaptive_beta_stays_in_the_feasible_interval(problem, rule):
    train, val, distance = problem
    model, _ = pretrained(problem)
    options = FinetuneOptions(
        method="ddt-adaptive",
        beta=0.5,
        epochs=3,
        lr=0.01,
        batch_size=300,
        seed=1,
        adaptive_rule=rule,
    )
    steps = pl.DataFrame(
        finetune(
            model,
            train,
            val,
            distance=distance,
            options=options,
            diversity=DiversityOptions(k=10, eps=1 / 300),
            device="cpu",
        ).steps
    )
    opposed = steps.filter(pl.col("rho") < 0)
    assert len(opposed) > 0
    inside = (opposed["beta_low"] < opposed["beta"]) & (opposed["beta"] < opposed["beta_high"])
    assert inside.all()


def test_the_papers_beta_is_the_min_norm_point_of_the_logged_gradients(problem):
    train, val, distance = problem
    model, _ = pretrained(problem)
    options = FinetuneOptions(
        method="ddt-adaptive",
        beta=0.5,
        epochs=2,
        lr=0.01,
        batch_size=300,
        seed=1,
        adaptive_rule="min-norm",
    )
    steps = pl.DataFrame(
        finetune(
            model,
            train,
            val,
            distance=distance,
            options=options,
            diversity=DiversityOptions(k=10, eps=1 / 300),
            device="cpu",
        ).steps
    )
    a, b, rho = (steps[c].to_numpy() for c in ("a", "b", "rho"))
    # argmin_β ‖β g_rel + (1 − β) g_div‖² from a = ‖g_rel‖, b = ‖g_div‖, ρ = cos, clipped to [0, 1]
    expected = (b * (b - a * rho) / (a**2 + b**2 - 2 * a * b * rho)).clip(0, 1)
    assert steps["beta"].to_numpy() == pytest.approx(expected, rel=1e-6)
    assert len(set(steps["beta"].round(6))) > 1  # chosen per step


def test_most_diverse_selection_keeps_the_epoch_of_highest_monitored_dro(problem):
    train, val, distance = problem
    diversity = DiversityOptions(k=10, eps=1 / 300)

    def run(epochs, select):
        model, _ = pretrained(problem)
        options = FinetuneOptions(
            method="ddt", beta=0.9, epochs=epochs, lr=0.05, batch_size=300, seed=3, select=select
        )
        return finetune(
            model, train, val, distance=distance, diversity=diversity, options=options, device="cpu"
        )

    result = run(5, "most-diverse")
    dro = [epoch["dro"] for epoch in result.epochs]
    assert result.selected_epoch == dro.index(max(dro)) + 1
    assert result.selected_epoch != 5 or dro[-1] == max(dro)
    again = run(result.selected_epoch, "last")  # the same run stopped at the selected epoch
    for name, value in again.final_state.items():
        assert torch.equal(value, result.selected_state[name])


def test_most_diverse_selection_is_the_argmax_of_hard_dro_not_of_ddro():
    # A small run (60 users, 120 items, every user monitored) whose soft DDRO rises every epoch
    # while DRO@5 peaks at epoch 3 (measured: DRO@5 0.842, 0.926, 0.944, 0.943; DDRO 0.856, 0.904,
    # 0.941, 0.944). Each epoch's model comes from the same run stopped there (select="last"), and
    # its DRO@5 of every user, training items excluded, is computed by brute force from the split.
    raw = synthetic_ratings(
        users=60,
        items=120,
        ratings=2400,
        categories=8,
        seed=3,
        preference=0.9,
        preferred_categories=1,
    )
    ratings, items = canonicalize(raw, source="synthetic")
    train_frame, val_frame, _, _ = split_ratings(
        ratings, test_fraction=0.2, val_fraction=0.2, seed=1
    )
    sizes = {"n_users": 60, "n_items": 120}
    train = Interactions.from_frame(train_frame, **sizes)
    val = Interactions.from_frame(val_frame, **sizes)
    distance = GroupedDistance.from_categories(category_matrix(items)[0])
    base = build_model("nmf", dim=8, seed=0, mean=3.5, **sizes)
    options = PretrainOptions(epochs=10, lr=0.03, batch_size=256, seed=0)
    base.load_state_dict(pretrain(base, train, val, options=options, device="cpu").selected_state)

    def run(epochs, select):
        model = build_model("nmf", dim=8, seed=0, mean=3.5, **sizes)
        model.load_state_dict(base.state_dict())
        options = FinetuneOptions(
            method="ddt",
            beta=0.5,
            epochs=epochs,
            lr=0.02,
            batch_size=256,
            seed=3,
            select=select,
            monitor_users=60,
        )
        diversity = DiversityOptions(k=5, eps=1 / 120)
        return finetune(
            model, train, val, distance=distance, diversity=diversity, options=options, device="cpu"
        ), model

    seen = torch.zeros(60, 120, dtype=torch.bool)
    seen[train_frame["user"].to_torch(), train_frame["item"].to_torch()] = True
    dense = distance.dense()
    hard = []
    for epoch in range(1, 5):
        _, model = run(epoch, "last")
        with torch.no_grad():
            scores = model.score_all(torch.arange(60)).double().masked_fill(seen, -torch.inf)
        hard.append(sum(brute_dro(scores, dense, 5)) / 60)
    result, _ = run(4, "most-diverse")
    soft = [epoch["ddro"] for epoch in result.epochs]
    assert soft.index(max(soft)) != hard.index(max(hard))  # the run tells the two apart
    selected, most_diverse = result.selected_epoch, hard.index(max(hard)) + 1
    assert selected == most_diverse


@pytest.mark.parametrize(
    ("values", "maximize", "patience", "selected", "ran"),
    [
        ([5.0, 4.0, 4.5, 4.6, 3.0], False, 2, 2, 4),  # two epochs without improvement: stop
        ([5.0, 4.0, 4.5, 4.6, 3.0], False, None, 5, 5),
        ([0.1, 0.3, 0.2, 0.25], True, None, 2, 4),  # most diverse
        ([0.1, 0.3, 0.2, 0.25], True, 1, 2, 3),
    ],
)
def test_the_epoch_loop_selects_and_stops_early(values, maximize, patience, selected, ran):
    model = nn.Linear(1, 1)
    script = iter(values)

    def steps():
        with torch.no_grad():
            model.bias.add_(1.0)  # the state records the epoch
        yield torch.tensor(0.0), {}

    result = run_epochs(
        model,
        epochs=len(values),
        steps=steps,
        objective="value",
        summarize=lambda _: {"value": next(script)},
        select="best",
        maximize=maximize,
        patience=patience,
    )
    assert (result.selected_epoch, len(result.epochs)) == (selected, ran)
    assert result.selected_state["bias"].item() == pytest.approx(model.bias.item() - ran + selected)


def joint_loss_reference(model, params, ratings, users, distance, exclude, beta):
    """L_JOINT written out from eq. (10), for the finite-difference check."""
    user_ids, item_ids, values = ratings
    mse = ((functional_call(model, params, (user_ids, item_ids)) - values) ** 2).mean()
    scores = params["users"][users].relu() @ params["items"].relu().T  # NMF's score_all
    soft = ddro(scores, distance=distance, k=3, eps=0.5, exclude=exclude, top_m=None).mean()
    return beta * mse - (1 - beta) * soft


def tiny_problem():
    generator = torch.Generator().manual_seed(0)
    model = build_model("nmf", n_users=4, n_items=9, dim=3, seed=1).double()
    with torch.no_grad():  # move embeddings away from relu's kink at 0
        for p in model.parameters():
            p.add_(0.05)
    categories = (torch.rand(9, 4, generator=generator) < 0.5).double()
    distance = GroupedDistance.from_categories(categories)
    ratings = (
        torch.tensor([0, 1, 2, 3, 0, 2]),
        torch.tensor([1, 4, 2, 8, 5, 0]),
        torch.tensor([4.0, 2.0, 5.0, 3.0, 1.0, 4.0], dtype=torch.float64),
    )
    users = torch.arange(4)
    exclude = torch.zeros(4, 9, dtype=torch.bool)
    exclude[ratings[0], ratings[1]] = True
    return model, distance, ratings, users, exclude


def test_joint_loss_gradient_matches_finite_differences():
    model, distance, ratings, users, exclude = tiny_problem()
    names = [name for name, _ in model.named_parameters()]

    def loss(*values):
        return joint_loss_reference(
            model,
            dict(zip(names, values, strict=True)),
            ratings,
            users,
            distance,
            exclude,
            beta=0.3,
        )

    inputs = tuple(p.detach().clone().requires_grad_() for p in model.parameters())
    assert torch.autograd.gradcheck(loss, inputs, eps=1e-6, atol=1e-5)


def test_mdr_weights_match_finite_differences():
    model, distance, ratings, users, exclude = tiny_problem()
    user_ids, item_ids, values = ratings
    beta, meta_lr = 0.4, 0.5
    params = {name: p.detach() for name, p in model.named_parameters()}

    loss = DiversityLoss(distance, exclude, DiversityOptions(k=3, eps=0.5, top_m=None))

    def meta(weights):  # L_JOINT after one look-ahead step on Σ w ℓ, by plain autograd at fixed w
        leaves = {n: p.clone().requires_grad_() for n, p in params.items()}
        errors = (functional_call(model, leaves, (user_ids, item_ids)) - values) ** 2
        grads = torch.autograd.grad((weights * errors).sum(), list(leaves.values()))
        ahead = {n: params[n] - meta_lr * g for n, g in zip(leaves, grads, strict=True)}
        return joint_loss_reference(model, ahead, ratings, users, distance, exclude, beta)

    h = 1e-6
    basis = torch.eye(len(values), dtype=torch.float64)
    gradient = torch.stack([(meta(h * e) - meta(-h * e)) / (2 * h) for e in basis])
    rectified = (-gradient).clamp_min(0)
    expected = rectified / (rectified.sum() + 1e-8)
    weights = mdr_weights(model, ratings, users, beta=beta, meta_lr=meta_lr, loss=loss)
    assert (weights >= 0).all() and weights.sum().item() == pytest.approx(1.0)
    torch.testing.assert_close(weights, expected, atol=1e-6, rtol=0)


def test_mdr_weights_do_not_depend_on_the_look_ahead_step_size():
    # ∂L_JOINT(Θ')/∂w = −η·s, so w = η·s⁺ / (η·Σ s⁺ + ϵ) = s⁺ / (Σ s⁺ + ϵ/η): η only scales ϵ,
    # which is why FinetuneOptions has no meta_lr (η is the run's lr)
    model, distance, ratings, users, exclude = tiny_problem()
    loss = DiversityLoss(distance, exclude, DiversityOptions(k=3, eps=0.5, top_m=None))
    weights = [
        mdr_weights(model, ratings, users, beta=0.4, meta_lr=eta, loss=loss)
        for eta in (1e3, 1.0, 0.01)  # 0.01: the default lr
    ]
    assert weights[0].sum().item() == pytest.approx(1.0) and (weights[0] > 0).sum() >= 2
    for other in weights[1:]:  # apart by ϵ/η relative to Σ s⁺ at most
        torch.testing.assert_close(other, weights[0], atol=1e-5, rtol=0)


class PopularityModel(nn.Module):
    """A model divlib does not ship: r̂_ui = a_u + b_i. Only the interface matters."""

    def __init__(self, n_users: int, n_items: int):
        super().__init__()
        self.n_items = n_items
        self.user_level = nn.Parameter(torch.full((n_users,), 3.0))
        self.item_level = nn.Parameter(torch.linspace(-0.5, 0.5, n_items))

    def forward(self, users, items):
        return self.user_level[users] + self.item_level[items]

    def score_all(self, users):
        return self.user_level[users, None] + self.item_level[None, :]


@pytest.mark.parametrize("method", ["ddt", "ddt-adaptive", "mdr"])
def test_any_model_with_the_interface_trains(problem, method):
    train, val, distance = problem
    model = PopularityModel(150, 300)
    options = FinetuneOptions(method=method, beta=0.5, epochs=1, lr=0.01, batch_size=1024, seed=0)
    result = finetune(
        model,
        train,
        val,
        distance=distance,
        options=options,
        diversity=DiversityOptions(k=5, eps=1 / 300),
        device="cpu",
    )
    assert len(result.steps) == -(-len(train) // 1024) and result.epochs[0]["dro"] > 0


def test_a_diverging_run_names_the_step_and_keeps_the_last_good_state(problem):
    train, val, distance = problem
    model, _ = pretrained(problem)
    with torch.no_grad():
        model.users[3] = float("nan")
    options = FinetuneOptions(method="ddt", beta=0.5, epochs=1, lr=0.01, batch_size=512, seed=0)
    with pytest.raises(
        TrainingDiverged,
        match=r"fine-tuning: the loss is nan at step 1 \(epoch 1\); lower the learning rate",
    ) as caught:
        finetune(
            model,
            train,
            val,
            distance=distance,
            options=options,
            diversity=DiversityOptions(k=5, eps=1 / 300),
            device="cpu",
        )
    assert caught.value.step == 1 and caught.value.last_good is not None
    again = pickle.loads(pickle.dumps(caught.value))  # as a grid worker sends it back
    assert (str(again), again.step) == (str(caught.value), 1)
    assert torch.equal(again.last_good["items"], caught.value.last_good["items"])


EXPLODED = (
    r"is \d\.\d\de\+\d+, above 1\d\d \(10 × the larger of the validation MSE at the start and the "
    r"mean squared rating\); lower the learning rate or check the data$"
)


@pytest.mark.parametrize("method", ["ddt", "mdr"])
def test_an_exploding_fine_tuning_stops_at_its_first_exploding_step(problem, method):
    # lr = 1000: the training MSE reaches ~1e13 at step 2; under DDT the NMF's ReLUs then die and it
    # predicts 0, so that its validation MSE after the epoch is the mean squared rating, not above it.
    train, val, distance = problem
    model, _ = pretrained(problem)
    options = FinetuneOptions(method=method, beta=0.5, epochs=2, lr=1000.0, batch_size=1024)
    with pytest.raises(
        TrainingDiverged, match=r"^tiny: the training MSE of step 2 \(epoch 1\) " + EXPLODED
    ) as caught:
        finetune(
            model,
            train,
            val,
            distance=distance,
            options=options,
            name="tiny",
            diversity=DiversityOptions(k=5, eps=1 / 300),
            device="cpu",
        )
    assert caught.value.step == 2 and caught.value.last_good is not None  # the pretrained state


def test_an_exploding_pretraining_is_stopped_too(problem):
    train, val, _ = problem
    model = build_model("nmf", n_users=150, n_items=300, dim=8, seed=0, mean=3.5)
    options = PretrainOptions(epochs=3, lr=1000.0, batch_size=512, seed=0)
    with pytest.raises(
        TrainingDiverged, match=r"^pretraining: the training MSE of step 2 \(epoch 1\) " + EXPLODED
    ):
        pretrain(model, train, val, options=options, device="cpu")


@pytest.mark.parametrize("planted", [1e6, float("nan")])
def test_an_exploding_validation_mse_names_the_epoch_and_keeps_the_last_good_state(planted):
    model = nn.Linear(1, 1)
    script = iter([2.0, planted])

    def steps():
        with torch.no_grad():
            model.bias.add_(1.0)  # the state records the epoch
        yield torch.tensor(0.0), {"mse": 1.0}

    with pytest.raises(
        TrainingDiverged, match=r"^toy: the validation MSE after epoch 2 is "
    ) as caught:
        run_epochs(
            model,
            epochs=3,
            steps=steps,
            objective="val_mse",
            mse_limit=100.0,
            name="toy",
            summarize=lambda _: {"val_mse": next(script)},
        )
    assert caught.value.last_good["bias"].item() == pytest.approx(model.bias.item() - 1)


def test_the_epoch_line_gives_the_values_the_elapsed_time_and_an_eta():
    summary = {"epoch": 3, "val_mse": 0.91234, "dro": 0.8012, "ddro": 0.5}
    assert epoch_line("run", summary, 20, 6.2, at_most=False) == (
        "run: epoch 3/20, val MSE 0.9123, DRO@k 0.8012, 6.2 s (ETA 35 s)"
    )
    assert epoch_line("run", summary, 200, 6.2, at_most=True).endswith("(ETA ≤ 7 min)")
    assert epoch_line("run", summary | {"epoch": 20}, 20, 41.0, at_most=False).endswith(", 41.0 s")


def run_options(**change) -> FinetuneOptions:
    return FinetuneOptions(
        **{"method": "ddt", "beta": 0.5, "epochs": 1, "lr": 0.1, "batch_size": 1} | change
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: run_options(beta=1.5), r"beta must be a number in \[0, 1\]; got 1.5"),
        (
            lambda: run_options(method="sgd"),
            "method must be one of ddt, ddt-adaptive, mdr; got 'sgd'",
        ),
        (lambda: run_options(lr=float("inf")), "lr must be a number > 0; got inf"),
        (lambda: run_options(batch_size=True), "batch_size must be an int >= 1; got True"),
        (
            lambda: run_options(users_per_step=0),
            "users_per_step must be an int >= 1 or None; got 0",
        ),
        (lambda: run_options(weight_decay=-0.1), "weight_decay must be a number >= 0; got -0.1"),
        (
            lambda: run_options(select="first"),
            "select must be one of last, best, most-diverse; got 'first'",
        ),
        (lambda: run_options(monitor_users=2.0), r"monitor_users must be an int >= 1; got 2.0"),
        (
            lambda: run_options(adaptive_rule="mean"),
            "adaptive_rule must be one of min-norm, min-norm-adam, normalized; got 'mean'",
        ),
        (lambda: DiversityOptions(k=1), "k must be an int >= 2; got 1"),
        (lambda: DiversityOptions(eps=0.0), "eps must be a number > 0; got 0.0"),
        (lambda: DiversityOptions(tau=-1.0), "tau must be a number > 0; got -1.0"),
        (lambda: DiversityOptions(offset=2), r"offset must be a number in \[0, 1\]; got 2"),
        (
            lambda: DiversityOptions(top_m="all"),
            "top_m must be an int >= 1, 'auto' or None; got 'all'",
        ),
        (
            lambda: DiversityOptions(k=10, top_m=10),
            'top_m = 10 must exceed k = 10; raise top_m, or make it "auto" or None',
        ),
        (
            lambda: PretrainOptions(epochs=0, lr=0.1, batch_size=1),
            "epochs must be an int >= 1; got 0",
        ),
        (
            lambda: PretrainOptions(epochs=1, lr=0.1, batch_size=1, patience=0),
            "patience must be an int >= 1 or None; got 0",
        ),
        (
            lambda: PretrainOptions(epochs=1, lr=0.1, batch_size=1, l2=float("nan")),
            "l2 must be a number >= 0; got nan",
        ),
    ],
)
def test_bad_options_fail_before_training(make, message):
    """Each field's annotation is its check: one line naming the field, what it allows, the
    value."""
    with pytest.raises(DivlibError, match=f"^{message}$"):
        make()


def test_the_options_take_their_defaults_and_numbers_of_either_kind():
    assert DiversityOptions() == DiversityOptions(k=10, eps=1e-3, tau=1.0, offset=0.0, top_m="auto")
    assert DiversityOptions(top_m=None).top_m is None and DiversityOptions(top_m=11).top_m == 11
    options = run_options(beta=1, lr=1, weight_decay=0, users_per_step=None)
    assert (options.beta, options.lr) == (1, 1)  # an int where a float is asked: kept as written
    assert PretrainOptions(epochs=1, lr=0.1, batch_size=1, patience=None).patience is None


def test_k_at_least_the_catalogue_fails_before_training(problem):
    train, val, distance = problem
    options = FinetuneOptions(method="ddt", beta=0.5, epochs=1, lr=0.01, batch_size=512)
    with pytest.raises(DivlibError, match="diversity k = 300 must be below the 300 items"):
        finetune(
            PopularityModel(150, 300),
            train,
            val,
            distance=distance,
            options=options,
            diversity=DiversityOptions(k=300, eps=0.01),
            device="cpu",
        )
