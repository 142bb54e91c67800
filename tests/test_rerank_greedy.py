"""The pool re-rankers MMR, DUM and DPP against per-user loops and a log-determinant greedy;
batched against one user at a time; ties, limits, bad parameters; the candidate pool; CUDA against
CPU."""

import math

import pytest
import torch
from reference import dpp_quality, loop_dum, loop_mmr, naive_dpp

from divlib import DivlibError
from divlib.rerank import candidate_pool, dpp, dum, mmr


def gram_similarity(gen, batch, n, features=8):
    """Normalised Gram matrices of non-negative features: PSD, entries in [0, 1], unit diagonal."""
    x = torch.rand(batch, n, features, generator=gen, dtype=torch.float64)
    x = x / x.norm(dim=2, keepdim=True)
    return x @ x.transpose(1, 2)


def random_relevance(gen, batch, n):
    return 1 + 4 * torch.rand(batch, n, generator=gen, dtype=torch.float64)


def random_categories(gen, batch, n, c):
    """Each candidate gets 1 or 2 of c categories."""
    first = torch.randint(c, (batch, n, 1), generator=gen)
    second = torch.randint(c, (batch, n, 1), generator=gen)
    both = torch.rand(batch, n, 1, generator=gen) < 0.5
    cats = torch.zeros(batch, n, c, dtype=torch.bool)
    cats.scatter_(2, first, True)
    return cats | (torch.zeros_like(cats).scatter_(2, second, True) & both)


@pytest.mark.parametrize("theta", [None, 0.0, 0.5, 0.9])
def test_dpp_matches_naive_logdet_greedy(gen, theta):
    relevance, similarity = random_relevance(gen, 5, 10), gram_similarity(gen, 5, 10)
    got = dpp(relevance, similarity, 6, theta=theta)
    for b in range(5):
        expected = naive_dpp(dpp_quality(relevance[b], theta), similarity[b], 6)
        assert got[b].tolist() == expected


@pytest.mark.parametrize("lam", [0.0, 0.3, 0.7, 1.0])
def test_mmr_matches_loop(gen, lam):
    relevance, similarity = random_relevance(gen, 5, 12), gram_similarity(gen, 5, 12)
    got = mmr(relevance, similarity, 7, lam)
    for b in range(5):
        assert got[b].tolist() == loop_mmr(relevance[b], similarity[b], 7, lam)


@pytest.mark.parametrize("c", [3, 6, 20, 40])  # 40: two packed words
@pytest.mark.parametrize("pool_sorted", [False, True])
def test_dum_matches_loop(gen, c, pool_sorted):
    relevance, categories = random_relevance(gen, 6, 12), random_categories(gen, 6, 12, c)
    if pool_sorted:
        relevance = relevance.sort(dim=1, descending=True).values
    got = dum(relevance, categories, 8)
    for b in range(6):
        assert got[b].tolist() == loop_dum(relevance[b], categories[b], 8)


RERANKERS = {
    "mmr": lambda r, s, c, k: mmr(r, s, k, 0.5),
    "dum": lambda r, s, c, k: dum(r, c, k),
    "dpp": lambda r, s, c, k: dpp(r, s, k),
    "dpp_theta": lambda r, s, c, k: dpp(r, s, k, theta=0.7),
}


def random_inputs(gen, batch=4, n=10):
    return (
        random_relevance(gen, batch, n),
        gram_similarity(gen, batch, n),
        random_categories(gen, batch, n, 5),
    )


@pytest.mark.parametrize("name", RERANKERS)
def test_batched_equals_per_user(gen, name):
    relevance, similarity, categories = random_inputs(gen)
    batched = RERANKERS[name](relevance, similarity, categories, 6)
    for b in range(4):
        alone = RERANKERS[name](
            relevance[b : b + 1], similarity[b : b + 1], categories[b : b + 1], 6
        )
        assert torch.equal(batched[b : b + 1], alone)


@pytest.mark.parametrize("name", RERANKERS)
def test_k_above_n_names_k_and_n(gen, name):
    with pytest.raises(DivlibError, match=r"k = 11 exceeds the N = 10 .*lower k"):
        RERANKERS[name](*random_inputs(gen), 11)


@pytest.mark.parametrize("name", RERANKERS)
def test_k_equal_n_is_a_permutation(gen, name):
    picks = RERANKERS[name](*random_inputs(gen), 10)
    assert picks.dtype == torch.int64 and picks.shape == (4, 10)
    assert (picks.sort(dim=1).values == torch.arange(10)).all()


@pytest.mark.parametrize("name", RERANKERS)
def test_equal_relevance_ties_go_to_the_lower_position(name):
    # Unrelated candidates (S = I, one category each) with equal relevance: every step is a tie.
    relevance = torch.full((2, 6), 3.0, dtype=torch.float64)
    similarity = torch.eye(6, dtype=torch.float64).expand(2, 6, 6)
    categories = torch.eye(6, dtype=torch.bool).expand(2, 6, 6)
    assert RERANKERS[name](relevance, similarity, categories, 4).tolist() == [[0, 1, 2, 3]] * 2


@pytest.mark.parametrize("name", RERANKERS)
def test_partial_tie_goes_to_the_lower_position(name):
    relevance = torch.tensor([[1.0, 3.0, 3.0, 2.0]], dtype=torch.float64)
    similarity = torch.eye(4, dtype=torch.float64)[None]
    categories = torch.eye(4, dtype=torch.bool)[None]
    assert RERANKERS[name](relevance, similarity, categories, 2).tolist() == [[1, 2]]


def test_dum_identical_categories_takes_the_top_then_fills_by_relevance(gen):
    relevance = random_relevance(gen, 3, 8)
    categories = torch.zeros(3, 8, 4, dtype=torch.bool)
    categories[:, :, [0, 2]] = True
    expected = relevance.argsort(dim=1, descending=True)[:, :5]
    assert torch.equal(dum(relevance, categories, 5), expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("theta", [None, 0.6])
def test_dpp_rank_one_kernel_fills_in_relevance_order(gen, dtype, theta):
    relevance = random_relevance(gen, 3, 8).to(dtype)
    similarity = torch.ones(3, 8, 8, dtype=dtype)
    expected = relevance.argsort(dim=1, descending=True)[:, :5]
    assert torch.equal(dpp(relevance, similarity, 5, theta=theta), expected)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda r, s: mmr(r, s, 3, -0.1), "lam"),
        (lambda r, s: mmr(r, s, 3, 1.5), "lam"),
        (lambda r, s: mmr(r, s, 3, True), "lam"),
        (lambda r, s: dpp(r, s, 3, theta=1.0), "theta"),
        (lambda r, s: dpp(r, s, 3, theta=-0.2), "theta"),
        (lambda r, s: dpp(r, s, 3, theta="0.5"), "theta"),
        (lambda r, s: dpp(r - 3, s, 3), "relevance"),
    ],
)
def test_invalid_parameters_are_named(gen, call, name):
    relevance, similarity = random_relevance(gen, 2, 6), gram_similarity(gen, 2, 6)
    with pytest.raises(DivlibError, match=name):
        call(relevance, similarity)


def test_candidate_pool_skips_excluded_items(gen):
    scores = torch.randn(4, 30, generator=gen, dtype=torch.float64)
    exclude = torch.rand(4, 30, generator=gen) < 0.4
    relevance, items = candidate_pool(scores, exclude, 8)
    assert not exclude.gather(1, items).any()
    assert torch.equal(scores.gather(1, items), relevance)
    for b in range(4):
        allowed = scores[b].masked_fill(exclude[b], -math.inf)
        assert torch.equal(relevance[b], allowed.sort(descending=True).values[:8])


def test_candidate_pool_errors_when_too_few_items(gen):
    scores = torch.randn(2, 10, generator=gen)
    exclude = torch.zeros(2, 10, dtype=torch.bool)
    exclude[1, :5] = True
    with pytest.raises(DivlibError, match="fewer than 6 items"):
        candidate_pool(scores, exclude, 6)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available on this machine")
@pytest.mark.parametrize("name", RERANKERS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_matches_cpu(gen, name, dtype):
    relevance, similarity, categories = random_inputs(gen, batch=16, n=40)
    relevance, similarity = relevance.to(dtype), similarity.to(dtype)
    cpu = RERANKERS[name](relevance, similarity, categories, 12)
    cuda = RERANKERS[name](relevance.cuda(), similarity.cuda(), categories.cuda(), 12)
    assert cuda.device.type == "cuda"
    assert torch.equal(cuda.cpu(), cpu)
