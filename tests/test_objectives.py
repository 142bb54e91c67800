import pytest
import torch
from reference import brute_ddro, brute_dro, official_ddro

from divlib import (
    DivlibError,
    GroupedDistance,
    ddro,
    ddro_and_dro,
    dro,
    jaccard_distance,
    soft_topk,
)
from divlib._window import SoftTopK, top_window

# The 5-item example of the paper's seed slides: clusters {1, 5} and {2, 4}, item 3 a bridge.
SLIDES_D = torch.tensor(
    [
        [0.0, 1.0, 0.5, 1.0, 0.0],
        [1.0, 0.0, 1.0, 0.0, 1.0],
        [0.5, 1.0, 0.0, 1.0, 0.5],
        [1.0, 0.0, 1.0, 0.0, 1.0],
        [0.0, 1.0, 0.5, 1.0, 0.0],
    ]
)


def random_problem(gen, rows=5, m=30, c=5, dtype=torch.float64):
    categories = (torch.rand(m, c, generator=gen) < 0.4).to(dtype)
    scores = torch.randn(rows, m, generator=gen, dtype=dtype)
    return scores, jaccard_distance(categories), categories


def test_dro_on_the_slides_example():
    # Scores order the items 1 > 2 > 3 > 4 > 5 (row 0) and 1 > 5 > 3 > 2 > 4 (row 1).
    scores = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0], [5.0, 2.0, 3.0, 1.0, 4.0]])
    # top-3 {1,2,3}: (1 + 0.5 + 1) / 3 = 5/6;  {1,5,3}: (0 + 0.5 + 0.5) / 3 = 1/3
    torch.testing.assert_close(dro(scores, distance=SLIDES_D, k=3), torch.tensor([5 / 6, 1 / 3]))
    # top-2 {1,2}: 1;  {1,5}: 0 (same cluster)
    torch.testing.assert_close(dro(scores, distance=SLIDES_D, k=2), torch.tensor([1.0, 0.0]))
    # ranks 3..4 (start=2, k=2): {3,4}: 1;  {3,2}: 1
    torch.testing.assert_close(
        dro(scores, distance=SLIDES_D, k=2, start=2), torch.tensor([1.0, 1.0])
    )
    # top-4 of row 0 {1,2,3,4}: (1 + .5 + 1 + 1 + 0 + 1) / 6 = 0.75
    assert dro(scores[:1], distance=SLIDES_D, k=4).item() == pytest.approx(0.75)


@pytest.mark.parametrize("start", [0, 4])
def test_dro_equals_brute_force(gen, start):
    scores, distance, categories = random_problem(gen)
    expected = torch.tensor(brute_dro(scores, distance, k=4, start=start), dtype=torch.float64)
    torch.testing.assert_close(dro(scores, distance=distance, k=4, start=start), expected)
    grouped = GroupedDistance.from_categories(categories)
    torch.testing.assert_close(dro(scores, distance=grouped, k=4, start=start), expected)


@pytest.mark.parametrize("top_m", ["auto", None])
def test_ddro_and_dro_equal_the_two_calls(gen, top_m):
    """One ranking pass gives DDRO and the brute-force DRO@k of the top-k left after exclusion,
    on the windowed path (its certified rows and those redone in full) and on the full path."""
    scores, distance, categories = random_problem(gen, rows=40, m=200)
    near_ties = 5 + 1e-9 * torch.arange(150.0, dtype=scores.dtype)  # one PAV block past every cut
    scores[:3, :150] = near_ties
    exclude = torch.rand(scores.shape, generator=gen) < 0.3
    grouped = GroupedDistance.from_categories(categories)
    settings = {"distance": grouped, "k": 5, "eps": 0.01, "exclude": exclude}
    scores = scores.requires_grad_()
    window = top_window(scores.detach(), SoftTopK(5, 0.01, 1.0, 0.0), window=36, exclude=exclude)
    assert 0 < int(window.exact.sum()) < len(scores)  # both kinds of rows
    soft, hard = ddro_and_dro(scores, top_m=top_m, **settings)
    torch.testing.assert_close(soft, ddro(scores, top_m=top_m, **settings), rtol=0, atol=0)
    brute = brute_dro(scores.detach().masked_fill(exclude, float("-inf")), distance, k=5)
    torch.testing.assert_close(hard, torch.tensor(brute, dtype=torch.float64))
    assert not hard.requires_grad and soft.requires_grad


def test_ddro_equals_double_loop(gen):
    scores, distance, _ = random_problem(gen)
    membership = soft_topk(scores, k=5, eps=0.3, tau=0.7)
    expected = torch.tensor(brute_ddro(membership, distance), dtype=torch.float64)
    actual = ddro(scores, distance=distance, k=5, eps=0.3, tau=0.7, top_m=None)
    torch.testing.assert_close(actual, expected)


def test_ddro_tends_to_dro(gen, device):
    scores, distance, _ = random_problem(gen, m=40)
    scores = (torch.randperm(40, generator=gen).double() * 0.1 + scores * 0.01).to(device)
    exclude = (torch.rand(5, 40, generator=gen) < 0.2).to(device)
    distance = distance.to(device)
    soft = ddro(scores, distance=distance, k=6, eps=1e-4, tau=1e-3, offset=0.5, exclude=exclude)
    hard = dro(scores, distance=distance, k=6, exclude=exclude)
    torch.testing.assert_close(soft, hard, atol=1e-6, rtol=0)


def test_ddro_matches_the_official_code(gen):
    # Golden reference: the official formulation (offset 1) transcribed in tests/reference.py. It adds
    # 1e-8 to the soft pair count where divlib floors it at 1e-8: equal to rtol 1e-8 while the count is
    # not tiny, which the assertion on `pairs` makes sure of.
    scores, distance, _ = random_problem(gen, m=60)
    scores = scores * 10
    for eps in (1e-3, 0.1, 0.3):
        membership = soft_topk(scores, k=5, eps=eps, offset=1)
        pairs = membership.sum(dim=1) ** 2 - (membership**2).sum(dim=1)
        assert pairs.min() > 1
        expected = official_ddro(scores, distance, k=5, eps=eps)
        actual = ddro(scores, distance=distance, k=5, eps=eps, offset=1, top_m=None)
        torch.testing.assert_close(actual, expected, atol=0, rtol=1e-8)


def test_ddro_gradcheck(gen):
    scores, distance, categories = random_problem(gen, rows=3, m=12)
    grouped = GroupedDistance.from_categories(categories)
    exclude = torch.rand(3, 12, generator=gen) < 0.25
    scores.requires_grad_()
    assert torch.autograd.gradcheck(
        lambda s: ddro(s, distance=grouped, k=3, eps=0.5, exclude=exclude, top_m=None), (scores,)
    )


def realistic_problem(gen, rows=40, m=800):
    """Scores spread like rating predictions, ~N(3.6, 0.6), over m items in 12 genres."""
    scores = torch.randn(rows, m, generator=gen, dtype=torch.float64) * 0.6 + 3.6
    categories = (torch.rand(m, 12, generator=gen) < 0.15).double()
    exclude = torch.rand(rows, m, generator=gen) < 0.05
    return scores, GroupedDistance.from_categories(categories), exclude


@pytest.mark.parametrize("eps", [1e-4, 1 / 800, 0.01, 1.0])
@pytest.mark.parametrize("top_m", ["auto", 45])
def test_top_m_equals_full_value_and_gradient(gen, eps, top_m):
    # Small eps: the window result is certified. Large eps: blocks straddle the window and the rows
    # fall back; either way the result must equal the whole-catalogue computation. The membership left
    # outside the window is below (m − M)·σ(k − M − 1): 3.5e-12 for M = 42 ("auto" here), 2e-13 for 45.
    scores, grouped, exclude = realistic_problem(gen)
    values, grads = [], []
    for window in (top_m, None):
        leaf = scores.clone().requires_grad_()
        value = ddro(leaf, distance=grouped, k=10, eps=eps, exclude=exclude, top_m=window)
        (value * torch.arange(1.0, 41.0, dtype=torch.float64)).sum().backward()
        values.append(value)
        grads.append(leaf.grad)
    torch.testing.assert_close(values[0], values[1], atol=1e-12, rtol=0)
    torch.testing.assert_close(grads[0], grads[1], atol=1e-10, rtol=0)


def test_uncertifiable_integer_top_m_equals_the_full_catalogue(gen):
    # top_m = k + 2 on scores 10ε apart (ranks 4 and 5 0.3ε apart, a PAV block that carries gradient),
    # in three kinds of row: (a) as they are, cut at M; (b) with a near-tie across position M, cut one
    # item further down; (c) with ranks 3..3M 0.9ε apart, one PAV block from 3 past 2M: no cut within
    # 2M, so the row is ranked in full; with top_m = 2M its cut lies after the block. τ = 0.08 makes
    # the membership a certified window leaves out negligible: 53·σ(−3/τ) < 3e-15.
    k, eps, tau, m = 5, 0.01, 0.08, 60
    window = k + 2
    scores = (5 - 10 * eps * torch.arange(m, dtype=torch.float64)).repeat(6, 1)
    scores[:, 4] = scores[:, 3] - 0.3 * eps
    scores[1::3, window] = scores[1::3, window - 1] - 1e-3 * eps
    cluster = torch.arange(3 * window - 2, dtype=torch.float64)
    scores[2::3, 2 : 3 * window] = scores[2::3, 2:3] - 0.9 * eps * cluster
    scores = scores.gather(1, torch.rand(6, m, generator=gen).argsort(dim=1))  # shuffle the items
    soft = SoftTopK(k=k, eps=eps, tau=tau, offset=0.0)
    full = soft_topk(scores, k=k, eps=eps, tau=tau)
    widest = [2 * window, 2 * window, 3 * window]
    for width, cuts in ((window, [window, window + 1, 0]), (2 * window, widest)):
        top = top_window(scores, soft, window=width, exclude=None)
        assert top.exact.tolist() == [cut > 0 for cut in cuts] * 2
        assert (top.membership > 0).sum(dim=1).tolist() == cuts * 2
        error = (top.membership - full.gather(1, top.items)).abs() * (top.membership > 0)
        assert error.amax() < 1e-12
    _, distance, _ = random_problem(gen, rows=1, m=m)
    values, grads = [], []
    for top_m in (window, None):
        leaf = scores.clone().requires_grad_()
        value = ddro(leaf, distance=distance, k=k, eps=eps, tau=tau, top_m=top_m)
        weights = torch.arange(1.0, 7.0, dtype=torch.float64)
        values.append(value.detach())
        grads.append(torch.autograd.grad((value * weights).sum(), leaf)[0])
    torch.testing.assert_close(values[0], values[1], atol=1e-10, rtol=0)
    torch.testing.assert_close(grads[0], grads[1], atol=1e-10, rtol=0)
    assert grads[1].abs().amax() > 1e-3  # the gradient compared is not trivially zero


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 1}, "k must be >= 2"),
        ({"top_m": 5}, "top_m = 5 must exceed k = 10"),
        ({"top_m": "all"}, "top_m must be an int"),
        ({"eps": -1.0}, "eps must be a number > 0"),
    ],
)
def test_bad_ddro_arguments_are_named(kwargs, message):
    arguments = {"k": 10, "eps": 1e-3, **kwargs}
    call = dro if kwargs.get("k") == 1 else ddro
    if call is dro:
        arguments.pop("eps")
    with pytest.raises(DivlibError, match=message):
        call(torch.randn(2, 100), distance=torch.zeros(100, 100), **arguments)


def test_an_integer_top_m_that_would_truncate_membership_is_refused(gen):
    # k = 10, τ = 1, M = k + 2: every item past the window keeps σ((k − rank)/τ) ≥ σ(−3) ≈ 0.05 of
    # membership in the full soft top-k, so a windowed DDRO would drop it silently.
    scores, distance, _ = random_problem(gen, rows=3, m=200)
    full = soft_topk(scores, k=10, eps=0.01)
    outside = full.sort(dim=1, descending=True).values[:, 12:].sum(dim=1)
    assert (outside > 1e-3).all()  # what the window would leave out is real
    with pytest.raises(DivlibError, match=r'top_m = 12 may leave .* pass top_m="auto" \(M = 40'):
        ddro(scores, distance=distance, k=10, eps=0.01, top_m=12)
    exact = ddro(scores, distance=distance, k=10, eps=0.01, top_m=None)
    torch.testing.assert_close(ddro(scores, distance=distance, k=10, eps=0.01, top_m=40), exact)
