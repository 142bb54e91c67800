import pytest
import torch
from reference import brute_cosine_distance, brute_jaccard

from divlib import (
    DenseDistance,
    DivlibError,
    GroupedDistance,
    as_item_distance,
    cosine_distance,
    jaccard_distance,
)
from divlib.models import build_model


def categories_with_edge_cases(gen, m=25, c=6):
    """Random 0/1 rows, plus two items without categories and duplicated category sets."""
    categories = (torch.rand(m, c, generator=gen) < 0.35).float()
    categories[3] = 0
    categories[7] = 0
    categories[10] = categories[2]
    categories[11] = categories[2]
    return categories


def test_jaccard_matches_brute_force_on_sets(gen):
    categories = categories_with_edge_cases(gen)
    torch.testing.assert_close(jaccard_distance(categories.double()), brute_jaccard(categories))


def test_jaccard_matches_brute_force_on_weights(gen):
    weights = torch.rand(12, 5, generator=gen, dtype=torch.float64) * (
        torch.rand(12, 5, generator=gen) < 0.6
    )
    torch.testing.assert_close(jaccard_distance(weights), brute_jaccard(weights))


def test_jaccard_hand_worked():
    # {A, B} vs {B, C}: 1 shared of 3 → 2/3; {A} vs {}: 1; {} vs {}: 0 (same, empty, set).
    categories = torch.tensor([[1, 1, 0], [0, 1, 1], [1, 0, 0], [0, 0, 0], [0, 0, 0]])
    distance = jaccard_distance(categories)
    assert distance[0, 1].item() == pytest.approx(2 / 3)
    assert distance[2, 3].item() == 1.0 and distance[3, 4].item() == 0.0
    assert (distance.diagonal() == 0).all() and torch.equal(distance, distance.T)


def test_grouped_is_the_jaccard_matrix_with_one_group_per_distinct_set(gen):
    categories = categories_with_edge_cases(gen)
    grouped = GroupedDistance.from_categories(categories.double())
    assert grouped.n_groups == len({tuple(row) for row in categories.tolist()})
    torch.testing.assert_close(grouped.dense(), jaccard_distance(categories.double()))


def test_grouped_pair_sum_equals_dense_and_double_loop(gen, device):
    categories = categories_with_edge_cases(gen)
    grouped = GroupedDistance.from_categories(categories.double()).to(device)
    dense = DenseDistance(jaccard_distance(categories.double())).to(device)
    weights = torch.rand(4, 25, generator=gen, dtype=torch.float64).to(device)
    matrix = dense.matrix.cpu()
    loop = [
        sum(w[i] * w[j] * matrix[i, j].item() for i in range(25) for j in range(25))
        for w in weights.cpu().tolist()
    ]
    expected = torch.tensor(loop, dtype=torch.float64, device=device)
    torch.testing.assert_close(dense.pair_sum(weights), expected)
    torch.testing.assert_close(grouped.pair_sum(weights), expected)


def test_pair_sum_over_item_subsets(gen):
    categories = categories_with_edge_cases(gen)
    grouped = GroupedDistance.from_categories(categories.double())
    items = torch.stack([torch.randperm(25, generator=gen)[:6] for _ in range(3)])
    weights = torch.rand(3, 6, generator=gen, dtype=torch.float64)
    scattered = torch.zeros(3, 25, dtype=torch.float64).scatter(1, items, weights)
    torch.testing.assert_close(grouped.pair_sum(weights, items=items), grouped.pair_sum(scattered))
    dense = as_item_distance(grouped.dense())
    torch.testing.assert_close(dense.pair_sum(weights, items=items), grouped.pair_sum(scattered))


@pytest.mark.parametrize("width", [2, 6])
def test_pair_sum_over_item_subsets_by_group_sums_and_by_blocks(gen, width):
    # GroupedDistance sums M items' pairs through its g group sums when g <= 8·M, else through the
    # (B, M, M) blocks: width 2 takes the blocks, width 6 the group sums; both against a loop.
    grouped = GroupedDistance.from_categories(categories_with_edge_cases(gen).double())
    assert (grouped.n_groups > 8 * width) == (width == 2)
    items = torch.stack([torch.randperm(25, generator=gen)[:width] for _ in range(3)])
    weights = torch.rand(3, width, generator=gen, dtype=torch.float64, requires_grad=True)
    matrix = grouped.dense()
    loop = [
        sum(w[i] * w[j] * matrix[row[i], row[j]] for i in range(width) for j in range(width))
        for w, row in zip(weights, items, strict=True)
    ]
    values = grouped.pair_sum(weights, items=items)
    torch.testing.assert_close(values, torch.stack(loop))
    gradient = torch.autograd.grad(values.sum(), weights)[0]
    torch.testing.assert_close(gradient, torch.autograd.grad(torch.stack(loop).sum(), weights)[0])


def test_pair_sum_gradient(gen):
    grouped = GroupedDistance.from_categories(categories_with_edge_cases(gen).double())
    weights = torch.rand(2, 25, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(grouped.pair_sum, (weights,))


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        (torch.ones(3, 3), "zero diagonal"),
        (torch.zeros(3, 4), "must be square"),
        (torch.full((2, 2), float("nan")), "NaN or Inf"),
    ],
)
def test_bad_distance_matrices_are_named(matrix, message):
    with pytest.raises(DivlibError, match=message):
        DenseDistance(matrix)


def test_mismatched_weights_are_named():
    dense = DenseDistance(torch.zeros(4, 4))
    with pytest.raises(DivlibError, match="distance covers 4 items"):
        dense.pair_sum(torch.zeros(2, 5))
    with pytest.raises(DivlibError, match=r"distance.to\(device, dtype\)"):
        dense.pair_sum(torch.zeros(2, 4, dtype=torch.float64))


def test_negative_category_weights_are_rejected():
    with pytest.raises(DivlibError, match="non-negative"):
        jaccard_distance(torch.tensor([[1.0, -1.0]]))


def test_cosine_distance_matches_brute_force(gen):
    embeddings = torch.randn(15, 4, generator=gen, dtype=torch.float64)
    embeddings[6] = 0  # no direction: distance 1 to every other item
    embeddings[9] = 3 * embeddings[2]  # the same direction: distance 0
    distance = cosine_distance(embeddings)
    torch.testing.assert_close(distance, brute_cosine_distance(embeddings), atol=1e-12, rtol=0)
    assert distance[2, 9].item() == pytest.approx(0.0, abs=1e-12)
    assert distance[6, 0].item() == 1.0 and distance[6, 6].item() == 0.0
    assert torch.equal(distance, distance.T) and (distance.diagonal() == 0).all()


def test_cosine_distance_hand_worked():
    # (1, 0) vs (0, 1): orthogonal, 1; (1, 0) vs (1, 1): 1 − 1/√2; (1, 0) vs (−1, 0): opposite, 2.
    distance = cosine_distance(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]]))
    assert distance[0, 1].item() == pytest.approx(1.0)
    assert distance[0, 2].item() == pytest.approx(1 - 2**-0.5)
    assert distance[0, 3].item() == pytest.approx(2.0)


def test_cosine_distance_of_non_negative_embeddings_lies_in_zero_one(gen):
    distance = cosine_distance(torch.rand(30, 5, generator=gen))
    assert distance.min() >= 0 and distance.max() <= 1


@pytest.mark.parametrize("name", ["nmf", "mf", "ncf"])
def test_each_model_gives_the_item_factors_its_scores_come_from(name):
    model = build_model(name, n_users=4, n_items=6, dim=3, seed=1)
    embeddings = model.item_embeddings()
    assert embeddings.shape == (6, 3)
    if name == "nmf":  # r̂_ui = relu(p_u) · relu(q_i)
        scores = model.users.relu() @ embeddings.T
        torch.testing.assert_close(model.score_all(torch.arange(4)), scores)
        assert (embeddings >= 0).all()
    else:
        torch.testing.assert_close(embeddings, model.items)


def test_cosine_distance_rejects_what_is_not_an_embedding_matrix():
    with pytest.raises(DivlibError, match=r"an \(items, dimensions\) matrix .* got shape \(4,\)"):
        cosine_distance(torch.ones(4))
    with pytest.raises(DivlibError, match="NaN or Inf; check the model"):
        cosine_distance(torch.tensor([[1.0, float("nan")]]))
    with pytest.raises(TypeError, match="float"):
        cosine_distance(torch.ones(3, 2, dtype=torch.int64))
