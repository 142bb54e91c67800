import pytest
import torch

from divlib import soft_topk
from divlib._window import SoftTopK, top_window, window_is_exact, window_size
from divlib.ranking import soft_rank


def test_window_size_by_hand():
    soft = SoftTopK(k=10, eps=1e-3, tau=1.0, offset=0.0)
    # 10 + 0 − 1 + ln(3706 / (1e-12 · 10)) = 9 + 33.55 → 43, as ddro's docstring says
    assert window_size("auto", soft, m=3706) == 43
    assert window_size(45, soft, m=3706) == 45
    assert window_size(45, soft, m=90) is None  # a window of half the catalogue saves nothing
    assert window_size(None, soft, m=3706) is None


def spread_problem(gen, rows, m, window, eps, excluded):
    """Scores for which the certificate provably holds, with PAV blocks inside the window.

    The kept items are 0–2ε apart within the window (so some pool), 2M·ε apart across its boundary
    and 1–3ε apart below: d_t >= t, and as z̃_M >= 1, c >= 2M + 1 − (M + 1) − margin > 0. The
    excluded items score among the best, some above every kept item. Columns are shuffled.
    """
    kept = m - excluded
    gaps = torch.cat(
        [
            2 * torch.rand(rows, window - 1, generator=gen, dtype=torch.float64),
            torch.full((rows, 1), 2.0 * window, dtype=torch.float64),
            1 + 2 * torch.rand(rows, kept - window - 1, generator=gen, dtype=torch.float64),
        ],
        dim=1,
    )  # between successive kept items, in units of ε
    top = torch.zeros(rows, 1, dtype=torch.float64)
    scores = torch.cat(
        [
            5 - eps * torch.cat([top, gaps.cumsum(dim=1)], dim=1),
            4.9 + 0.2 * torch.rand(rows, excluded, generator=gen, dtype=torch.float64),
        ],
        dim=1,
    )  # fmt: skip
    exclude = torch.arange(m).expand(rows, m) >= kept
    shuffle = torch.rand(rows, m, generator=gen).argsort(dim=1)
    return scores.gather(1, shuffle), exclude.gather(1, shuffle)


@pytest.mark.parametrize("offset", [0.0, 0.5])
def test_top_window_is_the_full_soft_topk_on_its_items(gen, offset):
    rows, m, window, eps = 16, 300, 25, 1e-3
    scores, exclude = spread_problem(gen, rows, m, window, eps, excluded=30)
    soft = SoftTopK(k=10, eps=eps, tau=0.7, offset=offset)
    top = top_window(scores, soft, window=window, exclude=exclude)
    assert top.exact.all()
    best = scores.masked_fill(exclude, float("-inf")).topk(window, dim=1).indices
    assert torch.equal(top.items, best)  # the M best items that are not excluded, best first
    full = soft_topk(scores, k=10, eps=eps, tau=0.7, offset=offset, exclude=exclude)
    torch.testing.assert_close(top.membership, full.gather(1, best), atol=1e-12, rtol=0)
    ranks = soft_rank(scores, eps=eps, exclude=exclude).gather(1, best)
    assert (ranks - ranks.round()).abs().amax() > 0.1  # PAV blocks inside the window were compared


def test_window_certificate_detects_straddling_blocks(gen):
    # eps = 0.01 merges ranks across position M for these scores: the window alone would be wrong,
    # so no row may be certified.
    scores = torch.randn(40, 800, generator=gen, dtype=torch.float64) * 0.6 + 3.6
    window, eps = 25, 0.01
    best = scores.topk(4 * window, dim=1).values
    ranks = soft_rank(scores.topk(window, dim=1).values, eps=eps)
    full = soft_rank(scores, eps=eps).topk(window, dim=1, largest=False).values
    assert (ranks - full).abs().amax(dim=1).min() > 0.1  # truncation really is wrong here
    assert not window_is_exact(scores, best, ranks[:, -1], window=window, eps=eps).any()
    small = 1e-4  # and at small eps most rows are certified
    ranks = soft_rank(scores.topk(window, dim=1).values, eps=small)
    certified = window_is_exact(scores, best, ranks[:, -1], window=window, eps=small)
    assert certified.float().mean() > 0.8


@pytest.mark.parametrize("kind", ["gaussian", "dense-bulk", "ties", "exponential"])
def test_window_certificate_is_never_wrong_and_seldom_too_cautious(gen, kind):
    # Brute force: a certified row's window ranks must equal the whole-catalogue ranks of its M best
    # items; and the tail bound should certify most rows that are in fact exact.
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
        best = scores.topk(4 * window, dim=1).values
        certified = window_is_exact(scores, best, ranks[:, -1], window=window, eps=eps)
        error = (soft_rank(scores, eps=eps).gather(1, top.indices) - ranks).abs().amax(dim=1)
        assert not (certified & (error > 1e-9)).any()
        assert certified.sum() >= 0.9 * (error < 1e-9).sum() - 2


def test_window_certificate_allows_for_float32_rounding(gen):
    # Near-ties placed just outside the float64 critical distance below the window are exact ties in
    # float32 at θ = score/ε ≈ 6000, where torchsort pools them: a certified row must not couple its
    # window to the items below it, in value or gradient.
    m, eps = 1682, 1 / 1682
    window = window_size("auto", SoftTopK(k=10, eps=eps, tau=1.0, offset=0.0), m=m)
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
    best = scores.topk(4 * window, dim=1).values
    certified = window_is_exact(scores, best, ranks[:, -1], window=window, eps=eps)
    leaf = scores.clone().requires_grad_()
    full = soft_rank(leaf, eps=eps).gather(1, top.indices)
    full.sum().backward()
    outside = torch.ones_like(scores, dtype=torch.bool).scatter_(1, top.indices, False)
    coupled = (leaf.grad.abs() * outside).amax(dim=1) > 0
    differs = (full.detach() - ranks).abs().amax(dim=1) > 1e-7
    assert not (certified & (coupled | differs)).any()
