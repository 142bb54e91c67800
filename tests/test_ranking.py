import pytest
import torch
from reference import hard_descending_ranks, sigmoid

from divlib import DivlibError, soft_rank, soft_topk, topk_indicator, topk_items
from divlib.ranking import popular_items, random_items


def distinct_scores(gen, rows=4, m=12, spacing=1.0):
    """Rows of distinct scores at least ``spacing`` apart, in random order."""
    return torch.stack([torch.randperm(m, generator=gen).double() * spacing for _ in range(rows)])


def test_soft_rank_small_eps_gives_hard_descending_ranks(gen, device):
    scores = distinct_scores(gen).to(device)
    ranks = soft_rank(scores, eps=1e-3)
    expected = torch.tensor([hard_descending_ranks(row) for row in scores.tolist()])
    torch.testing.assert_close(ranks.cpu(), expected.double(), atol=1e-9, rtol=0)


def test_soft_rank_large_eps_tends_to_the_mean_rank(gen):
    scores = torch.randn(3, 9, generator=gen, dtype=torch.float64)
    ranks = soft_rank(scores, eps=1e6)
    torch.testing.assert_close(ranks, torch.full_like(ranks, (9 + 1) / 2), atol=1e-4, rtol=0)


@pytest.mark.parametrize("regularization", ["l2", "kl"])
@pytest.mark.parametrize("with_exclude", [False, True])
def test_soft_rank_gradcheck(gen, regularization, with_exclude):
    scores = torch.randn(3, 7, generator=gen, dtype=torch.float64, requires_grad=True)
    exclude = torch.rand(3, 7, generator=gen) < 0.3 if with_exclude else None
    assert torch.autograd.gradcheck(
        lambda s: soft_rank(s, eps=0.5, regularization=regularization, exclude=exclude), (scores,)
    )


@pytest.mark.parametrize("eps", [0.05, 0.5, 3.0])
def test_exclusion_equals_ranking_the_rest(gen, eps):
    # Included items must get exactly the soft ranks they would get in a catalogue without the excluded
    # ones (eps large enough for PAV blocks to form), and the excluded ones the ranks n+1..m on average.
    scores = torch.randn(5, 15, generator=gen, dtype=torch.float64)
    exclude = torch.rand(5, 15, generator=gen) < 0.4
    ranks = soft_rank(scores, eps=eps, exclude=exclude)
    for row in range(5):
        kept = ~exclude[row]
        alone = soft_rank(scores[row, kept][None], eps=eps)[0]
        torch.testing.assert_close(ranks[row, kept], alone, atol=1e-10, rtol=0)
        n, m = int(kept.sum()), 15
        torch.testing.assert_close(
            ranks[row, ~kept], torch.full((m - n,), (n + 1 + m) / 2, dtype=torch.float64)
        )


def test_excluded_items_get_no_gradient(gen):
    scores = torch.randn(4, 10, generator=gen, dtype=torch.float64, requires_grad=True)
    exclude = torch.rand(4, 10, generator=gen) < 0.3
    weights = torch.randn(4, 10, generator=gen, dtype=torch.float64)
    (soft_topk(scores, k=3, eps=2.0, exclude=exclude) * weights).sum().backward()
    assert (scores.grad[exclude] == 0).all()
    assert (scores.grad[~exclude] != 0).any()


@pytest.mark.parametrize("offset", [0.0, 0.5, 1.0])
def test_soft_topk_limit_depends_on_offset(gen, offset):
    # Hard ranks (eps small) and a sharp sigmoid: rank r gets 1 below k + offset, 1/2 at it, 0 above.
    scores = distinct_scores(gen, m=10)
    membership = soft_topk(scores, k=4, eps=1e-3, tau=1e-3, offset=offset)
    ranks = torch.tensor([hard_descending_ranks(row) for row in scores.tolist()]).double()
    threshold = 4 + offset
    expected = (ranks < threshold).double() + 0.5 * (ranks == threshold).double()
    torch.testing.assert_close(membership, expected, atol=1e-9, rtol=0)


def test_soft_topk_half_offset_tends_to_topk_indicator(gen, device):
    scores = distinct_scores(gen, m=20).to(device)
    exclude = (torch.rand(4, 20, generator=gen) < 0.25).to(device)
    membership = soft_topk(scores, k=5, eps=1e-4, tau=1e-3, offset=0.5, exclude=exclude)
    torch.testing.assert_close(membership, topk_indicator(scores, k=5, exclude=exclude))


def test_soft_topk_rows_sum_to_k(gen):
    # Σ_r σ(k + 1/2 − r) over hard ranks r = 1..m: ranks k − j and k + 1 + j (j < k) pair up into
    # σ(j + 1/2) + σ(−j − 1/2) = 1, giving k; ranks 2k+1..m add the tail σ(−(j + 1/2)), j = k..m−k−1.
    scores = distinct_scores(gen, m=40)
    membership = soft_topk(scores, k=10, eps=1e-3, tau=1.0, offset=0.5)
    tail = sum(sigmoid(-(j + 0.5)) for j in range(10, 30))
    torch.testing.assert_close(membership.sum(dim=1), torch.full((4,), 10.0 + tail).double())


def test_topk_items_window_and_exclusion(gen):
    scores = torch.randn(6, 30, generator=gen)
    exclude = torch.rand(6, 30, generator=gen) < 0.3
    items = topk_items(scores, k=4, start=4, exclude=exclude)
    for row in range(6):
        candidates = [i for i in range(30) if not exclude[row, i]]
        order = sorted(candidates, key=lambda i: -scores[row, i].item())
        assert items[row].tolist() == order[4:8]
    indicator = topk_indicator(scores, k=4, start=4, exclude=exclude)
    assert indicator.sum().item() == 6 * 4 and not indicator[exclude].any()


def test_too_few_candidates_is_reported():
    scores = torch.zeros(2, 5)
    exclude = torch.tensor([[False] * 5, [True, True, True, False, False]])
    with pytest.raises(DivlibError, match=r"fewer than 3 items .* row 1 with 2"):
        topk_items(scores, k=3, exclude=exclude)


def test_popular_items_by_hand_ties_to_the_lower_id():
    popularity = torch.tensor([3, 5, 5, 1, 0, 5])
    exclude = torch.tensor([[False, True, False, False, False, False], [False] * 6])
    # row 0 without item 1: 2 and 5 (5 each, 2 first), 0 (3); row 1: 1, 2, 5
    assert popular_items(popularity, k=3, exclude=exclude).tolist() == [[2, 5, 0], [1, 2, 5]]


def test_popular_items_match_a_sort_by_count_then_id(gen):
    popularity = torch.randint(0, 4, (40,), generator=gen)  # many ties
    exclude = torch.rand(5, 40, generator=gen) < 0.3
    items = popular_items(popularity, k=12, exclude=exclude)
    for row in range(5):
        unseen = [i for i in range(40) if not exclude[row, i]]
        order = sorted(unseen, key=lambda i: (-popularity[i].item(), i))
        assert items[row].tolist() == order[:12]


def test_random_items_draw_unseen_items_uniformly_and_repeat_with_the_seed():
    exclude = torch.zeros(20000, 5, dtype=torch.bool)
    exclude[:, 0] = True
    items = random_items(k=4, exclude=exclude, generator=torch.Generator().manual_seed(1))
    assert (items.sort(dim=1).values == torch.tensor([1, 2, 3, 4])).all()  # each unseen item once
    for rank in range(4):  # each item at each rank in 1/4 of the lists: 5000 ± 4σ, σ ≈ 61
        counts = torch.bincount(items[:, rank], minlength=5)[1:]
        assert (counts - 5000).abs().max() < 250, counts
    again = random_items(k=2, exclude=exclude, generator=torch.Generator().manual_seed(1))
    assert torch.equal(again, items[:, :2])  # same seed: the same order; a shorter list its prefix
    other = random_items(k=2, exclude=exclude, generator=torch.Generator().manual_seed(2))
    assert not torch.equal(other, items[:, :2])


def test_anchor_rankings_name_a_bad_argument():
    exclude = torch.tensor([[False, False, True]])
    with pytest.raises(DivlibError, match=r"popularity must hold one value per item, shape \(3,\)"):
        popular_items(torch.ones(4), k=1, exclude=exclude)
    with pytest.raises(DivlibError, match=r"fewer than 3 items .* row 0 with 2"):
        random_items(k=3, exclude=exclude, generator=torch.Generator())


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: soft_rank(s, eps=0.0), "eps must be a number > 0"),
        (lambda s: soft_rank(s, eps=1.0, regularization="l1"), "regularization must be one of"),
        (lambda s: soft_topk(s, k=0, eps=1.0), "k must be an int >= 1"),
        (lambda s: soft_topk(s, k=9, eps=1.0), "k = 9 exceeds the 5 items"),
        (lambda s: soft_topk(s, k=2, eps=1.0, tau=-1.0), "tau must be a number > 0"),
        (lambda s: soft_rank(s[0], eps=1.0), r"shape \(B, m\)"),
    ],
)
def test_bad_arguments_are_named(call, message):
    with pytest.raises(DivlibError, match=message):
        call(torch.randn(3, 5))


def test_non_finite_scores_are_reported():
    scores = torch.randn(3, 5)
    scores[2, 1] = float("nan")
    with pytest.raises(DivlibError, match=r"NaN or Inf in 1 row\(s\) \(first: row 2\)"):
        soft_rank(scores, eps=1.0)
