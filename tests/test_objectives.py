import pytest
import torch
from reference import brute_ddro, brute_dro, official_ddro

from divlib import DivlibError, GroupedDistance, ddro, dro, jaccard_distance, soft_topk

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


def test_window_certificate_detects_straddling_blocks(gen):
    # eps = 0.01 merges ranks across position M for these scores: the window alone would be wrong,
    # so no row may be certified.
    from divlib.objectives import _window_is_exact
    from divlib.ranking import soft_rank

    scores, _, _ = realistic_problem(gen)
    window, eps = 25, 0.01
    best = scores.topk(4 * window, dim=1).values
    ranks = soft_rank(scores.topk(window, dim=1).values, eps=eps)
    full = soft_rank(scores, eps=eps).topk(window, dim=1, largest=False).values
    assert (ranks - full).abs().amax(dim=1).min() > 0.1  # truncation really is wrong here
    assert not _window_is_exact(scores, best, ranks[:, -1], window, eps).any()
    small = 1e-4  # and at small eps most rows are certified
    ranks = soft_rank(scores.topk(window, dim=1).values, eps=small)
    assert _window_is_exact(scores, best, ranks[:, -1], window, small).float().mean() > 0.8


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


@pytest.mark.parametrize("kind", ["gaussian", "dense-bulk", "ties", "exponential"])
def test_window_certificate_is_never_wrong_and_seldom_too_cautious(gen, kind):
    # Brute force: a certified row's window ranks must equal the whole-catalogue ranks of its M best
    # items; and the tail bound should certify most rows that are in fact exact.
    from divlib.objectives import _window_is_exact
    from divlib.ranking import soft_rank

    rows, m, window = 128, 700, 30
    draw = {
        "gaussian": lambda: torch.randn(rows, m, generator=gen, dtype=torch.float64),
        "dense-bulk": lambda: torch.cat(
            [  # a spread top above a bulk packed just below it
                1 + torch.rand(rows, window + 5, generator=gen, dtype=torch.float64),
                1 - 0.02 * torch.rand(rows, m - window - 5, generator=gen, dtype=torch.float64),
            ],
            dim=1,
        ),  # fmt: skip
        "ties": lambda: torch.randint(0, 40, (rows, m), generator=gen).double() / 40,
        "exponential": lambda: -torch.rand(rows, m, generator=gen, dtype=torch.float64).log(),
    }[kind]
    for eps in (1e-4, 1e-3, 1e-2):
        scores = draw()
        top = scores.topk(window, dim=1)
        ranks = soft_rank(top.values, eps=eps)
        certified = _window_is_exact(
            scores, scores.topk(4 * window, dim=1).values, ranks[:, -1], window, eps
        )
        error = (soft_rank(scores, eps=eps).gather(1, top.indices) - ranks).abs().amax(dim=1)
        assert not (certified & (error > 1e-9)).any()
        assert certified.sum() >= 0.9 * (error < 1e-9).sum() - 2


def test_window_certificate_allows_for_float32_rounding(gen):
    # Near-ties placed just outside the float64 critical distance below the window are exact ties in
    # float32 at θ = score/ε ≈ 6000, where torchsort pools them: a certified row must not couple its
    # window to the items below it, in value or gradient.
    from divlib.objectives import _window_is_exact, _window_size
    from divlib.ranking import soft_rank

    m, eps = 1682, 1 / 1682
    window = _window_size("auto", k=10, tau=1.0, offset=0.0, m=m)
    scores = (
        (3.5 + 0.5 * torch.randn(256, m, generator=gen, dtype=torch.float64))
        .sort(dim=1, descending=True)
        .values
    )
    jitter = 3e-3 * torch.rand(256, 1, generator=gen, dtype=torch.float64)
    scores[:, window : window + 3] = scores[:, window - 1 : window] - (2 + jitter) * eps
    scores[:, window + 3 :] = scores[:, window + 3 :].clamp_max(
        scores[:, window : window + 1] - 5 * eps
    )
    scores = scores.float()
    top = scores.topk(window, dim=1)
    ranks = soft_rank(top.values, eps=eps)
    certified = _window_is_exact(
        scores, scores.topk(4 * window, dim=1).values, ranks[:, -1], window, eps
    )
    leaf = scores.clone().requires_grad_()
    full = soft_rank(leaf, eps=eps).gather(1, top.indices)
    full.sum().backward()
    outside = torch.ones_like(scores, dtype=torch.bool).scatter_(1, top.indices, False)
    coupled = (leaf.grad.abs() * outside).amax(dim=1) > 0
    differs = (full.detach() - ranks).abs().amax(dim=1) > 1e-7
    assert not (certified & (coupled | differs)).any()
