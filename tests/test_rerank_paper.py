"""The paper's MMR and DPP (EXPLORE's ``strategy/competitors.py``) against literal per-user numpy loops."""

import math

import numpy as np
import pytest
import torch
from reference import FixedScores

from divlib import DivlibError, GroupedDistance
from divlib.rerank import PAPER_RUNS, dpp_paper, mmr_paper, paper_rerankings, rerank_all
from divlib.study.methods import ROWS, lookup

# References: EXPLORE's code per user, numpy, float64, with its candidates = unseen items in id order


def explore_mmr(ratings, similarity, seen, k, lam=0.5):
    """EXPLORE's ``MMR.get_recommendations`` for one user, returning item ids (EXPLORE returns the
    positions in ``candidates``)."""
    ratings = np.clip(ratings, 1, 5)
    candidates = np.where(~seen)[0]
    relevance = ratings[candidates]
    sim = similarity[np.ix_(candidates, candidates)]
    chosen = []
    for i in range(k):
        if i == 0:
            chosen.append(np.argmax(relevance))
            relevance[chosen] = -np.inf
            continue
        to_maximize = lam * relevance - (1 - lam) * np.max(sim[chosen[:i]], axis=0)
        chosen.append(np.argmax(to_maximize))
        relevance[chosen[i]] = -np.inf
    return candidates[chosen].tolist()


def explore_greedy_map(kernel, k, epsilon=1e-10):
    """EXPLORE's ``DPP.dpp`` (Chen et al.'s fast greedy MAP), verbatim but for names and for the ties:
    candidates within 1e-12·max L_ii of the best d² are tied, to the lowest id (exact ties, which
    rounding breaks either way, are common with clipped ratings and few category sets)."""

    def argmax(di2s):
        return np.flatnonzero(di2s >= np.max(di2s) - 1e-12 * np.max(np.diag(kernel)))[0]

    cis = np.zeros((k, kernel.shape[0]))
    di2s = np.copy(np.diag(kernel))
    selected = [argmax(di2s)]
    while len(selected) < k:
        s = len(selected) - 1
        ci_optimal = cis[:s, selected[-1]]
        di_optimal = math.sqrt(di2s[selected[-1]])
        eis = (kernel[selected[-1], :] - np.dot(ci_optimal, cis[:s, :])) / di_optimal
        cis[s, :] = eis
        di2s -= np.square(eis)
        di2s[selected[-1]] = -np.inf
        selected_item = argmax(di2s)
        if np.max(di2s) < epsilon:
            break
        selected.append(selected_item)
    return selected


def explore_dpp(ratings, similarity, seen, k):
    """EXPLORE's ``DPP.get_recommendations`` for one user, then the completion: the unpicked candidates
    by descending clipped rating, ties to the lower id. Returns (items, completed positions)."""
    ratings = np.clip(ratings, 1, 5)
    candidates = np.where(~seen)[0]
    relevance = ratings[candidates]
    kernel = relevance[:, None] * similarity[np.ix_(candidates, candidates)] * relevance[None, :]
    items = candidates[explore_greedy_map(kernel, k)].tolist()
    rest = sorted(set(candidates.tolist()) - set(items), key=lambda i: (-ratings[i], i))
    return items + rest[: k - len(items)], k - len(items)


def jaccard(categories):
    """S = 1 − D, D = |A Δ B| / |A ∪ B| the Jaccard distance of the rows of a 0/1 item × category
    matrix (every row non-empty), as EXPLORE's ``sim_matrix = 1 - items_items_distances``. (Mirrored
    category sets tie exactly in DPP's d²; 1 − D and |A ∩ B| / |A ∪ B| round differently and can break
    such a tie differently.)"""
    inter = categories @ categories.T
    sizes = categories.sum(axis=1)
    union = sizes[:, None] + sizes[None, :] - inter
    return 1 - (union - inter) / union


def random_problem(seed, users=24, m=40, c=8):
    """Ratings in [0, 6] (so that clipping matters), a quarter of the items seen, and 1..c random
    categories per item; with c = 3 there are at most 7 category sets, so DPP's kernel has rank <= 7."""
    rng = np.random.default_rng(seed)
    ratings = rng.uniform(0, 6, (users, m))
    seen = rng.random((users, m)) < 0.25
    categories = rng.random((m, c)) < 0.4
    categories[np.arange(m), rng.integers(c, size=m)] = True
    return ratings, seen, categories.astype(np.float64)


def run_paper(function, ratings, similarity, seen, k, device="cpu"):
    tensors = (torch.tensor(x, device=device) for x in (ratings, similarity, seen))
    return function(*tensors, k)


@pytest.mark.parametrize("c", [3, 8])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mmr_paper_equals_explore(device, seed, c):
    ratings, seen, categories = random_problem(seed, c=c)
    similarity = jaccard(categories)
    got = run_paper(mmr_paper, ratings, similarity, seen, 10, device)
    assert got.device.type == device.type and got.dtype == torch.int64
    expected = [explore_mmr(ratings[u], similarity, seen[u], 10) for u in range(len(ratings))]
    assert got.tolist() == expected


@pytest.mark.parametrize("c", [3, 8])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dpp_paper_equals_explore_and_completes_early_stops(device, seed, c):
    ratings, seen, categories = random_problem(seed, c=c)
    similarity = jaccard(categories)
    items, completed = run_paper(dpp_paper, ratings, similarity, seen, 10, device)
    expected = [explore_dpp(ratings[u], similarity, seen[u], 10) for u in range(len(ratings))]
    assert items.tolist() == [row for row, _ in expected]
    assert completed.tolist() == [count for _, count in expected]
    # c = 3: at most 7 category sets, so every list stops early; c = 8: none does
    assert (completed >= 3).all() if c == 3 else (completed == 0).all()


def test_mmr_paper_by_hand():
    """r = (5, 4.8, 4.2, 3), λ = 0.5; item 1 duplicates item 0 (S = 1), item 2 is close to item 1.
    Step 2: 0.5·4.8 − 0.5·1 = 1.9, 0.5·4.2 − 0 = 2.1, 0.5·3 − 0 = 1.5: item 2. Step 3: 1.9 against 1.5:
    item 1. Min-max scaled r (:func:`mmr`) would take item 3 there (−0.05 against 0)."""
    ratings = torch.tensor([[5.0, 4.8, 4.2, 3.0]])
    similarity = torch.tensor(
        [
            [1.0, 1.0, 0.0, 0.0],
            [1.0, 1.0, 0.4, 0.0],
            [0.0, 0.4, 1.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )
    none = torch.zeros(1, 4, dtype=torch.bool)
    assert mmr_paper(ratings, similarity, none, 4).tolist() == [[0, 2, 1, 3]]
    without_2 = torch.tensor([[False, False, True, False]])
    assert mmr_paper(ratings, similarity, without_2, 3).tolist() == [[0, 1, 3]]


@pytest.mark.parametrize("function", [mmr_paper, lambda *args: dpp_paper(*args)[0]])
def test_ratings_are_clipped_to_one_to_five(function):
    """6 ties with 5 and 0.2 with 1 after clipping (ties to the lower id); unclipped, 6 and 1 lead."""
    ratings = torch.tensor([[0.2, 5.0, 6.0, 1.0, 3.0]])
    similarity = torch.eye(5)
    none = torch.zeros(1, 5, dtype=torch.bool)
    assert function(ratings, similarity, none, 5).tolist() == [[1, 2, 4, 0, 3]]


def test_dpp_paper_rank_one_kernel_stops_after_one_pick_and_completes_by_rating():
    ratings = torch.tensor([[2.0, 4.0, 3.0, 5.5, 1.0, 6.0]])
    exclude = torch.tensor([[False, False, False, False, False, True]])
    items, completed = dpp_paper(ratings, torch.ones(6, 6), exclude, 4)
    assert items.tolist() == [[3, 1, 2, 0]] and completed.tolist() == [3]


def test_dpp_paper_stops_strictly_below_1e_10():
    """d² = L_ii = S_ii at r = 1, unchanged by the first pick (S diagonal): 1e-10 is still picked,
    0.99e-10 is completed."""
    ratings = torch.tensor([[5.0, 1.0, 1.0]], dtype=torch.float64)
    similarity = torch.diag(torch.tensor([1.0, 1e-10, 0.99e-10], dtype=torch.float64))
    items, completed = dpp_paper(ratings, similarity, torch.zeros(1, 3, dtype=torch.bool), 3)
    assert items.tolist() == [[0, 1, 2]] and completed.tolist() == [1]


@pytest.mark.parametrize("function", [mmr_paper, dpp_paper])
def test_paper_rerankers_name_bad_inputs(function):
    ratings, similarity = torch.rand(2, 6), torch.eye(6)
    exclude = torch.zeros(2, 6, dtype=torch.bool)
    exclude[1, :3] = True
    with pytest.raises(DivlibError, match="fewer than 4 items"):
        function(ratings, similarity, exclude, 4)
    with pytest.raises(DivlibError, match=r"\(6, 6\) item matrix"):
        function(ratings, torch.eye(5), exclude, 2)


@pytest.mark.parametrize("users_per_batch", [3, 128])
def test_paper_rerankings_equal_explore(device, users_per_batch):
    ratings, seen, categories = random_problem(4, c=3)
    model = FixedScores(torch.tensor(ratings, dtype=torch.float32))
    distance = GroupedDistance.from_categories(torch.tensor(categories))
    lists = paper_rerankings(
        model,
        torch.tensor(seen),
        distance,
        length=10,
        users_per_batch=users_per_batch,
        device=device,
    )
    assert list(lists) == list(PAPER_RUNS) == [("mmr-paper", 0.5), ("dpp-paper", None)]
    ratings32 = ratings.astype(np.float32).astype(np.float64)  # the model's float32 predictions
    similarity = jaccard(categories)
    users = range(len(ratings))
    assert lists["mmr-paper", 0.5].tolist() == [
        explore_mmr(ratings32[u], similarity, seen[u], 10) for u in users
    ]
    assert lists["dpp-paper", None].tolist() == [
        explore_dpp(ratings32[u], similarity, seen[u], 10)[0] for u in users
    ]
    assert all(items.device.type == "cpu" for items in lists.values())


def test_rerank_all_appends_the_paper_runs_unless_told_not_to():
    ratings, seen, categories = random_problem(5)
    model = FixedScores(torch.tensor(ratings))
    inputs = (
        model,
        torch.tensor(seen),
        GroupedDistance.from_categories(torch.tensor(categories)),
        torch.tensor(categories),
    )
    grid = dict(pool=20, length=10, mmr_lambdas=[0.5], dpp_thetas=[0.7])
    with_paper = rerank_all(*inputs, **grid)
    assert list(with_paper) == [("dum", None), ("mmr", 0.5), ("dpp", 0.7), *PAPER_RUNS]
    paper = paper_rerankings(model, torch.tensor(seen), inputs[2], length=10)
    assert all(torch.equal(with_paper[run], paper[run]) for run in PAPER_RUNS)
    assert list(rerank_all(*inputs, **grid, paper=False)) == list(with_paper)[:3]


def test_the_paper_runs_are_methods_beside_their_grids():
    assert ROWS[:6] == ("base", "mmr", "mmr-paper", "dum", "dpp", "dpp-paper")
    for method, _ in PAPER_RUNS:
        look = lookup(method)
        assert look.symbol is None and not look.trained and look.legend.endswith(", EXPLORE")
    assert lookup("mmr-paper").label == "MMR (λ = 0.5, EXPLORE)"
