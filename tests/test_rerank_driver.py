"""rerank_all over users, against a per-user brute force with similarities from category sets by
hand; the paper's runs it appends: tests/test_rerank_paper.py."""

import pytest
import torch
from reference import FixedScores, dpp_quality, loop_dum, loop_mmr, naive_dpp

from divlib import DivlibError, GroupedDistance
from divlib.rerank import rerank_all

CATEGORY_SETS = [
    {0},
    {0, 1},
    {1},
    {1, 2},
    {2},
    {2, 3},
    {3},
    {3, 4},
    {4},
    {0, 4},
    {0, 2},
    {1, 3},
    {0, 1, 2},
    {2, 3, 4},
]


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
    category sets (or the distance 1 − Jaccard), then the loop references of reference.py; item ids."""
    lists = []
    for row, seen_row in zip(scores.tolist(), seen.tolist(), strict=True):
        allowed = [i for i in range(len(row)) if not seen_row[i]]
        candidates = sorted(allowed, key=lambda i: -row[i])[:pool]
        jaccard = [
            [
                len(CATEGORY_SETS[i] & CATEGORY_SETS[j]) / len(CATEGORY_SETS[i] | CATEGORY_SETS[j])
                for j in candidates
            ]
            for i in candidates
        ]
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
    lists = rerank_all(
        FixedScores(scores),
        seen,
        distance,
        categories,
        pool=8,
        length=5,
        mmr_lambdas=[0.3, 0.7],
        dpp_thetas=[0.6, None],
        device=device,
        **options,
    )
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
        rerank_all(
            FixedScores(scores),
            seen,
            GroupedDistance.from_categories(categories),
            categories,
            pool=8,
            length=5,
            mmr_lambdas=[0.5, 0.5],
            dpp_thetas=[0.7],
        )
