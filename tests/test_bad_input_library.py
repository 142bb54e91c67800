"""Bad input at the library's boundary (issue 12, §6): one DivlibError line naming the argument, what was
found and the fix; and DDRO, which must never leave [0, 1], nor answer where DRO refuses."""

import re

import pytest
import torch
from reference import FixedScores, brute_ddro

from divlib import (
    DenseDistance,
    DivlibError,
    GroupedDistance,
    ddro,
    ddro_and_dro,
    dro,
    jaccard_distance,
    soft_topk,
)
from divlib.objectives import DENOMINATOR_FLOOR
from divlib.rerank import dpp, dpp_paper, dum, mmr, mmr_paper, paper_rerankings, rerank_all

RERANKERS = {
    "mmr": lambda r, s: mmr(r, s, 3, 0.5),
    "dpp": lambda r, s: dpp(r, s, 3),
    "dpp-theta": lambda r, s: dpp(r, s, 3, theta=0.5),
}
PAPER = {
    "mmr-paper": lambda r, s: mmr_paper(r, s, torch.zeros(r.shape, dtype=torch.bool), 3),
    "dpp-paper": lambda r, s: dpp_paper(r, s, torch.zeros(r.shape, dtype=torch.bool), 3),
}


def candidates(gen, batch=2, n=6, c=4):
    """Relevance in [1, 5] and the Jaccard similarity of random category sets, per user."""
    relevance = 1 + 4 * torch.rand(batch, n, generator=gen, dtype=torch.float64)
    categories = torch.rand(batch, n, c, generator=gen) < 0.5
    similarity = torch.stack([1 - jaccard_distance(cats.double()) for cats in categories])
    return relevance, similarity, categories


def catalogue(gen, m=8, c=4):
    """Ratings over m items and their (m, m) Jaccard similarity."""
    ratings = 1 + 4 * torch.rand(2, m, generator=gen, dtype=torch.float64)
    return ratings, 1 - jaccard_distance((torch.rand(m, c, generator=gen) < 0.5).double())


# --- ddro ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("top_m", ["auto", None])
def test_ddro_with_fewer_than_k_candidates_raises_as_dro(gen, top_m):
    # Row 1 keeps 3 items for k = 5: DRO refuses; DDRO returned 0 (or 1) there.
    scores = torch.randn(2, 40, generator=gen)
    distance = GroupedDistance.from_categories(torch.eye(40))
    exclude = torch.zeros(2, 40, dtype=torch.bool)
    exclude[1, 3:] = True
    with pytest.raises(DivlibError) as hard:
        dro(scores, distance=distance, k=5, exclude=exclude)
    with pytest.raises(DivlibError) as soft:
        ddro(scores, distance=distance, k=5, eps=0.1, exclude=exclude, top_m=top_m)
    assert str(soft.value) == str(hard.value)
    assert str(soft.value) == (
        "1 user row(s) have fewer than 5 items that are not excluded (first: row 1 with 3); "
        "drop such users or lower k"
    )


@pytest.mark.parametrize("k", [1, 41])
def test_ddro_refuses_a_list_length_that_dro_refuses(gen, k):
    scores, distance = torch.randn(2, 40, generator=gen), torch.zeros(40, 40)
    with pytest.raises(DivlibError):
        dro(scores, distance=distance, k=k)
    message = "k must be >= 2" if k == 1 else "k = 41 exceeds the 40 items per row; lower k"
    with pytest.raises(DivlibError, match=message):
        ddro(scores, distance=distance, k=k, eps=0.1)


@pytest.mark.parametrize(
    "m", [6, 10]
)  # fewer items than the scores' columns (was IndexError), more
@pytest.mark.parametrize("objective", ["dro", "ddro", "ddro_and_dro"])
def test_a_distance_over_another_number_of_items_names_both_sizes(gen, m, objective):
    scores = torch.randn(2, 8, generator=gen)
    distance = GroupedDistance.from_categories(torch.rand(m, 3, generator=gen) < 0.5)
    call = {"dro": dro, "ddro": ddro, "ddro_and_dro": ddro_and_dro}[objective]
    settings = {"k": 3} if objective == "dro" else {"k": 3, "eps": 0.1}
    message = f"distance covers {m} items but scores have 8 columns (one per item); build both"
    with pytest.raises(DivlibError, match=re.escape(message)):
        call(scores, distance=distance, **settings)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"offset": float("nan")}, "offset must be a finite number; got nan"),
        ({"offset": float("inf")}, "offset must be a finite number; got inf"),
        ({"tau": float("nan")}, "tau must be a number > 0; got nan"),
        ({"eps": float("nan")}, "eps must be a number > 0; got nan"),
    ],
)
def test_ddro_refuses_a_nan_setting_at_its_boundary(gen, setting, message):
    scores, distance = torch.randn(2, 40, generator=gen), torch.zeros(40, 40)
    with pytest.raises(DivlibError, match=f"^{re.escape(message)}$"):
        ddro(scores, distance=distance, **({"k": 5, "eps": 0.1} | setting))


def test_ddro_stays_in_zero_one_where_float32_rounding_left_it(gen):
    # Every pair of distinct items is at distance 1, so eq. (9) is exactly 1 wherever the soft pair
    # count exceeds its floor: float32 gave 1.0000001 (rounding) and up to 1.0005 (the pair count
    # (Σl)² − Σl² cancelling when one membership dominates). Reference: the count in float64.
    m = 40
    grouped = GroupedDistance.from_categories(torch.eye(m))
    for _ in range(40):
        scale = 10 ** (4 * torch.rand(1, generator=gen).item() - 2)
        eps = scale * 10 ** (3 * torch.rand(1, generator=gen).item() - 1.5)
        scores = torch.randn(16, m, generator=gen) * scale
        membership = soft_topk(scores.double(), k=5, eps=eps)
        pairs = membership.sum(dim=1) ** 2 - (membership**2).sum(dim=1)
        expected = pairs / pairs.clamp_min(DENOMINATOR_FLOOR)
        for top_m in ("auto", None):
            for distance in (grouped, grouped.dense()):
                values = ddro(scores, distance=distance, k=5, eps=eps, top_m=top_m)
                assert values.dtype == torch.float32
                assert 0 <= values.min() and values.max() <= 1, (scale, eps, values.max().item())
                torch.testing.assert_close(values.double(), expected, atol=2e-5, rtol=0)


def test_ddro_on_random_distances_stays_in_zero_one_and_matches_a_double_loop(gen):
    categories = (torch.rand(30, 5, generator=gen) < 0.4).float()
    distance = jaccard_distance(categories)
    for _ in range(10):
        scores = torch.randn(4, 30, generator=gen) * 10 ** (2 * torch.rand(1, generator=gen).item())
        values = ddro(scores, distance=distance, k=4, eps=0.05, top_m=None)
        membership = soft_topk(scores.double(), k=4, eps=0.05)
        expected = torch.tensor(brute_ddro(membership, distance.double()), dtype=torch.float64)
        assert 0 <= values.min() and values.max() <= 1
        torch.testing.assert_close(values.double(), expected, atol=1e-5, rtol=0)


def test_ddro_keeps_the_gradient_of_eq_9(gen):
    # The range clamp acts in the forward pass only: the gradient is eq. (9)'s, computed here as
    # Σ l_i l_j D_ij / ((Σ l)² − Σ l²) by autograd.
    categories = (torch.rand(20, 4, generator=gen) < 0.4).double()
    distance = jaccard_distance(categories)
    scores = torch.randn(3, 20, generator=gen, dtype=torch.float64).requires_grad_()
    weights = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    value = ddro(scores, distance=distance, k=4, eps=0.3, top_m=None)
    membership = soft_topk(scores, k=4, eps=0.3)
    pairs = membership.sum(dim=1) ** 2 - (membership**2).sum(dim=1)
    formula = ((membership @ distance) * membership).sum(dim=1) / pairs
    torch.testing.assert_close(value, formula)
    (ours,) = torch.autograd.grad((value * weights).sum(), scores)
    (theirs,) = torch.autograd.grad((formula * weights).sum(), scores)
    torch.testing.assert_close(ours, theirs, atol=1e-12, rtol=1e-9)
    assert theirs.abs().max() > 1e-4


# --- re-rankers: relevance, similarity, categories -------------------------------------------------


@pytest.mark.parametrize("name", [*RERANKERS, *PAPER])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_rerankers_refuse_a_nan_or_inf_similarity(gen, name, bad):
    # The case: DPP with a NaN similarity returned one item five times.
    if name in RERANKERS:
        relevance, similarity, _ = candidates(gen)
        similarity[1, 2, 4] = similarity[1, 4, 2] = bad
        first, call, fix = "(1, 2, 4)", RERANKERS[name], "1 - distance.block(items)"
    else:
        relevance, similarity = catalogue(gen)
        similarity[2, 4] = similarity[4, 2] = bad
        first, call, fix = "(2, 4)", PAPER[name], "1 - distance.dense()"
    with pytest.raises(DivlibError) as caught:
        call(relevance, similarity)
    assert str(caught.value) == (
        f"similarity contains NaN or Inf in 2 entries (first: {first}); build it as {fix} of a "
        "finite distance"
    )


@pytest.mark.parametrize("name", [*RERANKERS, "dum"])
@pytest.mark.parametrize("bad", [float("nan"), float("-inf")])
def test_rerankers_refuse_nan_or_inf_relevance(gen, name, bad):
    relevance, similarity, categories = candidates(gen)
    relevance[1, 3] = bad
    with pytest.raises(DivlibError) as caught:
        if name == "dum":
            dum(relevance, categories, 3)
        else:
            RERANKERS[name](relevance, similarity)
    assert str(caught.value) == (
        "relevance contains NaN or Inf in 1 entry (first: (1, 3)); check the model output before "
        "re-ranking"
    )


@pytest.mark.parametrize("name", list(PAPER))
def test_paper_rerankers_refuse_nan_ratings(gen, name):
    ratings, similarity = catalogue(gen)
    ratings[1, 5] = float("nan")
    with pytest.raises(
        DivlibError, match=r"scores contain NaN or Inf in 1 row\(s\) \(first: row 1\)"
    ):
        PAPER[name](ratings, similarity)


@pytest.mark.parametrize("name", list(RERANKERS))
@pytest.mark.parametrize("shape", [(2, 6, 5), (6, 6), (2, 7, 7), (1, 6, 6)])
def test_rerankers_refuse_a_similarity_of_the_wrong_size(gen, name, shape):
    relevance, _, _ = candidates(gen)
    with pytest.raises(DivlibError) as caught:
        RERANKERS[name](relevance, torch.ones(shape, dtype=torch.float64))
    assert str(caught.value) == (
        f"similarity must have shape (2, 6, 6) on cpu to go with relevance; got {shape} on cpu; "
        "pass 1 - distance.block(items)"
    )


@pytest.mark.parametrize("name", list(PAPER))
@pytest.mark.parametrize("shape", [(7, 7), (9, 9), (2, 8, 8)])
def test_paper_rerankers_refuse_a_similarity_of_the_wrong_size(gen, name, shape):
    ratings, _ = catalogue(gen)
    with pytest.raises(DivlibError, match=r"similarity must be the \(8, 8\) item matrix on cpu"):
        PAPER[name](ratings, torch.ones(shape, dtype=torch.float64))


@pytest.mark.parametrize("shape", [(2, 6, 0), (2, 5, 4), (6, 4)])
def test_dum_refuses_empty_or_misshapen_categories(gen, shape):
    relevance, _, _ = candidates(gen)
    with pytest.raises(DivlibError) as caught:
        dum(relevance, torch.ones(shape, dtype=torch.bool), 3)
    assert str(caught.value) == (
        f"categories must have shape (2, 6, C) with C >= 1 to go with relevance; got {shape}; "
        "pass the candidates' rows of the item × category matrix, categories[items] > 0"
    )


def test_rerank_all_refuses_a_distance_or_categories_of_another_catalogue(gen):
    categories = (torch.rand(30, 4, generator=gen) < 0.5).float()
    model = FixedScores(1 + 4 * torch.rand(3, 30, generator=gen))
    exclude = torch.zeros(3, 30, dtype=torch.bool)
    grid = {"pool": 8, "length": 4, "mmr_lambdas": [0.5], "dpp_thetas": [0.5]}
    for other in (categories[:20], torch.cat([categories, categories])):
        distance = GroupedDistance.from_categories(other)
        message = (
            f"distance covers {distance.n_items} items but exclude has 30 (one column per item); "
            "load both from the same prepared dataset"
        )
        with pytest.raises(DivlibError) as caught:
            rerank_all(model, exclude, distance, categories, **grid)
        assert str(caught.value) == message
        with pytest.raises(DivlibError) as caught:
            paper_rerankings(model, exclude, distance, length=4)
        assert str(caught.value) == message
    distance = GroupedDistance.from_categories(categories)
    for bad in (categories[:20], categories[:, :0]):
        with pytest.raises(DivlibError, match=r"categories must be the \(30, C\) item × category"):
            rerank_all(model, exclude, distance, bad, **grid)


# --- empty category matrices -----------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(0, 4), (5, 0), (0, 0)])
@pytest.mark.parametrize("build", [GroupedDistance.from_categories, jaccard_distance])
def test_empty_category_matrices_are_refused(shape, build):
    with pytest.raises(DivlibError) as caught:
        build(torch.zeros(shape))
    assert str(caught.value) == (
        f"categories must be an (items, categories) matrix with at least one of each; got shape "
        f"{shape}; check the items table's category columns"
    )


def test_an_empty_distance_matrix_is_refused():
    with pytest.raises(DivlibError, match=r"square \(m, m\) with m >= 1; got \(0, 0\)"):
        DenseDistance(torch.zeros(0, 0))
    with pytest.raises(DivlibError, match=r"square \(m, m\) with m >= 1; got \(0, 0\)"):
        GroupedDistance(torch.zeros(0, 0), torch.zeros(0, dtype=torch.int64))
