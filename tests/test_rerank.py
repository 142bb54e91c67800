import math

import polars as pl
import pytest
import torch
from reference import FixedScores

from divlib import DivlibError, GroupedDistance
from divlib.rerank import candidate_pool, dpp, dum, mmr, rerank_all
from divlib.study.evaluation import frame_lists, lists_frame


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


def naive_dpp(quality, similarity, k):
    """Greedy log-determinant selection, one slogdet per candidate and step."""
    kernel = quality[:, None] * similarity * quality[None, :]
    chosen = []
    for _ in range(k):
        best, best_value = None, -math.inf
        for i in range(len(quality)):
            if i in chosen:
                continue
            idx = torch.tensor(chosen + [i])
            sign, logdet = torch.linalg.slogdet(kernel[idx][:, idx])
            value = logdet.item() if sign > 0 else -math.inf
            if value > best_value:
                best, best_value = i, value
        chosen.append(best)
    return chosen


def loop_mmr(relevance, similarity, k, lam):
    r, s = relevance.tolist(), similarity.tolist()
    lo, hi = min(r), max(r)
    scaled = [(x - lo) / (hi - lo) if hi > lo else 0.0 for x in r]
    chosen = [max(range(len(r)), key=lambda i: (r[i], -i))]
    while len(chosen) < k:
        gains = {
            i: lam * scaled[i] - (1 - lam) * max(s[i][j] for j in chosen)
            for i in range(len(r))
            if i not in chosen
        }
        chosen.append(max(gains, key=lambda i: (gains[i], -i)))
    return chosen


def loop_dum(relevance, categories, k):
    r = relevance.tolist()
    order = sorted(range(len(r)), key=lambda i: (-r[i], i))
    sets = [set(row.nonzero().flatten().tolist()) for row in categories]
    chosen, covered = [], set()
    for i in order:
        if len(chosen) < k and sets[i] - covered:
            chosen.append(i)
            covered |= sets[i]
    chosen += [i for i in order if i not in chosen][: k - len(chosen)]
    return chosen


def dpp_quality(relevance, theta):
    if theta is None:
        return relevance
    low, high = relevance.min(), relevance.max()
    return torch.exp(theta / (2 * (1 - theta)) * (relevance - low) / (high - low))


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


# rerank_all over users, against a per-user brute force with similarities from category sets by hand

CATEGORY_SETS = [{0}, {0, 1}, {1}, {1, 2}, {2}, {2, 3}, {3}, {3, 4}, {4}, {0, 4}, {0, 2}, {1, 3},
                 {0, 1, 2}, {2, 3, 4}]  # fmt: skip


def rerank_problem(gen, users=7):
    """Distinct scores in [1, 5] (positive, for DPP with θ = None) and about a quarter of items seen."""
    m = len(CATEGORY_SETS)
    scores = 1 + 4 * torch.rand(users, m, generator=gen, dtype=torch.float64)
    seen = torch.rand(users, m, generator=gen) < 0.25
    categories = torch.zeros(m, 5, dtype=torch.float64)
    for item, labels in enumerate(CATEGORY_SETS):
        categories[item, sorted(labels)] = 1
    return scores, seen, categories


def brute_force_rerank(scores, seen, pool, length, method, param, *, pairwise="similarity"):
    """One user at a time: the top ``pool`` unseen items by sorting, Jaccard |A∩B|/|A∪B| of their
    category sets (or the distance 1 − Jaccard), then the loop references above; item ids."""
    lists = []
    for row, seen_row in zip(scores.tolist(), seen.tolist(), strict=True):
        allowed = [i for i in range(len(row)) if not seen_row[i]]
        candidates = sorted(allowed, key=lambda i: -row[i])[:pool]
        jaccard = [
            [len(CATEGORY_SETS[i] & CATEGORY_SETS[j]) / len(CATEGORY_SETS[i] | CATEGORY_SETS[j])
             for j in candidates]
            for i in candidates
        ]  # fmt: skip
        pairs = torch.tensor(jaccard, dtype=torch.float64)
        if pairwise == "distance":
            pairs = 1 - pairs
        relevance = torch.tensor([row[i] for i in candidates], dtype=torch.float64)
        if method == "mmr":
            positions = loop_mmr(relevance, pairs, length, param)
        elif method == "dpp":
            positions = naive_dpp(dpp_quality(relevance, param), pairs, length)
        else:
            sets = torch.tensor([[c in CATEGORY_SETS[i] for c in range(5)] for i in candidates])
            positions = loop_dum(relevance, sets, length)
        lists.append([candidates[p] for p in positions])
    return lists


def rerank_problem_lists(gen, device, **options):
    scores, seen, categories = rerank_problem(gen)
    distance = GroupedDistance.from_categories(categories)
    lists = rerank_all(FixedScores(scores), seen, distance, categories, pool=8, length=5,
                       mmr_lambdas=[0.3, 0.7], dpp_thetas=[0.6, None], device=device, **options)  # fmt: skip
    return scores, seen, lists


def test_rerank_all_equals_a_per_user_brute_force_with_jaccard_similarity(gen, device):
    # batches 3, 3, 1; the paper's runs: tests/test_rerank_paper.py
    scores, seen, lists = rerank_problem_lists(gen, device, users_per_batch=3, paper=False)
    assert list(lists) == [("dum", None), ("mmr", 0.3), ("mmr", 0.7), ("dpp", 0.6), ("dpp", None)]
    for (method, param), items in lists.items():
        assert items.device.type == "cpu" and items.dtype == torch.int64 and items.shape == (7, 5)
        assert items.tolist() == brute_force_rerank(scores, seen, 8, 5, method, param)
    # the test data tells similarities from distances: fed D instead of S, MMR would pick otherwise
    assert brute_force_rerank(scores, seen, 8, 5, "mmr", 0.3) != brute_force_rerank(
        scores, seen, 8, 5, "mmr", 0.3, pairwise="distance"
    )
    # and DPP does not merely return the candidates in relevance order
    assert lists["dpp", 0.6].tolist() != brute_force_rerank(scores, seen, 8, 5, "mmr", 1.0)


def test_rerank_all_does_not_depend_on_the_user_batches(gen):
    _, _, one_by_one = rerank_problem_lists(gen, "cpu", users_per_batch=1)
    _, _, all_at_once = rerank_problem_lists(torch.Generator().manual_seed(0), "cpu")
    assert all(torch.equal(one_by_one[run], all_at_once[run]) for run in all_at_once)


def test_rerank_all_rejects_a_repeated_setting(gen):
    scores, seen, categories = rerank_problem(gen)
    with pytest.raises(DivlibError, match="repeats a setting"):
        rerank_all(FixedScores(scores), seen, GroupedDistance.from_categories(categories),
                   categories, pool=8, length=5, mmr_lambdas=[0.5, 0.5], dpp_thetas=[0.7])  # fmt: skip


def test_lists_frame_layout_and_its_inverse():
    lists = {
        ("dum", None): torch.tensor([[4, 2, 7], [1, 0, 3]]),
        ("mmr", 0.3): torch.tensor([[2, 4, 5], [3, 1, 6]]),
    }
    frame = lists_frame(lists)
    assert frame.schema == pl.Schema({"method": pl.String, "param": pl.Float64, "user": pl.Int64,
                                      "rank": pl.Int64, "item": pl.Int64})  # fmt: skip
    assert frame.rows()[:4] == [("dum", None, 0, 1, 4), ("dum", None, 0, 2, 2),
                                ("dum", None, 0, 3, 7), ("dum", None, 1, 1, 1)]  # fmt: skip
    assert frame.rows()[-1] == ("mmr", 0.3, 1, 3, 6) and frame.height == 12
    back = frame_lists(frame.sample(fraction=1.0, shuffle=True, seed=3).sort("method", "param"))
    assert list(back) == [("dum", None), ("mmr", 0.3)]
    assert all(torch.equal(back[run], lists[run]) for run in lists)
