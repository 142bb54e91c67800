"""Training at Netflix-Prize size in memory that grows with the batch of users, not n_users × m: the seen
items of a batch of users from the ratings grouped by user, int32 ids, and an epoch's steps as
``finetune`` runs them (what ``bench/netflix.py`` times)."""

import pytest
import torch

import divlib.train.interactions
from divlib import GroupedDistance
from divlib.models import build_model
from divlib.study.data import canonicalize, category_matrix, split_ratings, synthetic_ratings
from divlib.train import DiversityLoss, DiversityOptions, FinetuneOptions, Interactions, finetune
from divlib.train.diversify import epoch_steps

N_USERS, N_ITEMS = 150, 300


@pytest.fixture(scope="module")
def problem():
    raw = synthetic_ratings(users=N_USERS, items=N_ITEMS, ratings=6000, categories=16, seed=3)
    ratings, items = canonicalize(raw, source="synthetic")
    train, val, _, _ = split_ratings(ratings, test_fraction=0.2, val_fraction=0.2, seed=1)
    sizes = {"n_users": N_USERS, "n_items": N_ITEMS}
    distance = GroupedDistance.from_categories(category_matrix(items)[0])
    return Interactions.from_frame(train, **sizes), Interactions.from_frame(val, **sizes), distance


def with_ids(data: Interactions, dtype: torch.dtype, order: torch.Tensor) -> Interactions:
    return Interactions(
        data.users[order].to(dtype),
        data.items[order].to(dtype),
        data.ratings[order],
        data.n_users,
        data.n_items,
    )


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32])
@pytest.mark.parametrize("in_user_order", [False, True])
@pytest.mark.parametrize("chunk", [7, 1 << 22])
def test_the_seen_items_of_a_batch_of_users_are_the_rows_of_the_dense_mask(
    monkeypatch, dtype, in_user_order, chunk
):
    monkeypatch.setattr(divlib.train.interactions, "GROUP_CHUNK", chunk)
    generator = torch.Generator().manual_seed(0)
    users = torch.randint(40, (900,), generator=generator)  # users 40..49 have no ratings
    items = torch.randint(70, (900,), generator=generator)  # repeated pairs among them
    data = Interactions(users, items, torch.ones(900), 50, 70)
    order = (
        users.argsort(stable=True) if in_user_order else torch.randperm(900, generator=generator)
    )
    data = with_ids(data, dtype, order)
    dense, grouped = data.seen(), data.seen_items()
    for batch in (torch.tensor([5, 45, 5, 0, 39]), torch.arange(50), torch.tensor([], dtype=int)):
        assert torch.equal(grouped[batch], dense[batch])
    by_user = data.items[torch.argsort(data.users, stable=True)]  # a stable sort of all ratings
    assert torch.equal(grouped.items, by_user) and grouped.items.dtype == dtype
    assert (grouped.items.data_ptr() == data.items.data_ptr()) == in_user_order  # no copy in order


def test_the_diversity_loss_is_the_same_with_grouped_or_dense_seen_items(problem):
    train, _, distance = problem
    options = DiversityOptions(k=5, eps=0.01)
    grouped, dense = (
        DiversityLoss(distance, seen, options) for seen in (train.seen_items(), train.seen())
    )
    users = torch.tensor([3, 17, 40, 17])
    scores = torch.randn(4, N_ITEMS, generator=torch.Generator().manual_seed(4))
    assert torch.equal(grouped.soft(scores, users), dense.soft(scores, users))
    assert torch.equal(grouped.hard(scores, users), dense.hard(scores, users))


@pytest.mark.parametrize("method", ["ddt", "mdr"])
def test_fine_tuning_on_int32_ids_repeats_the_int64_run(problem, method):
    train, val, distance = problem
    options = FinetuneOptions(
        method=method, beta=0.5, epochs=2, lr=0.01, batch_size=700, users_per_step=64, seed=2
    )
    runs = []
    for dtype in (torch.int64, torch.int32):
        model = build_model("nmf", n_users=N_USERS, n_items=N_ITEMS, dim=8, seed=0)
        data = [with_ids(split, dtype, torch.arange(len(split))) for split in (train, val)]
        runs.append(
            finetune(
                model,
                *data,
                distance=distance,
                options=options,
                device="cpu",
                diversity=DiversityOptions(k=5, eps=1 / N_ITEMS),
            )
        )
    assert runs[0].steps == runs[1].steps and runs[0].epochs == runs[1].epochs
    for name, value in runs[0].final_state.items():
        assert torch.equal(value, runs[1].final_state[name])


def test_epoch_steps_are_the_steps_of_a_fine_tuning_epoch(problem):
    train, val, distance = problem
    options = FinetuneOptions(
        method="ddt", beta=0.5, epochs=1, lr=0.01, batch_size=700, users_per_step=64, seed=5
    )
    diversity = DiversityOptions(k=5, eps=1 / N_ITEMS)
    model = build_model("nmf", n_users=N_USERS, n_items=N_ITEMS, dim=8, seed=0)
    expected = finetune(
        model, train, val, distance=distance, options=options, device="cpu", diversity=diversity
    ).steps
    model = build_model("nmf", n_users=N_USERS, n_items=N_ITEMS, dim=8, seed=0)
    generator = torch.Generator().manual_seed(options.seed)
    torch.randperm(N_USERS, generator=generator)  # finetune draws its monitored users first
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=options.lr, weight_decay=options.weight_decay
    )
    loss = DiversityLoss(distance, train.seen_items(), diversity)
    records = [
        record
        for _, record in epoch_steps(model, optimizer, train, loss, options, generator=generator)
    ]
    assert len(records) == -(-len(train) // options.batch_size)
    assert records == [{key: step[key] for key in records[0]} for step in expected]
