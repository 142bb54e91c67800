import pytest
import torch
import torchsort

from divlib import soft_topk
from divlib._window import _MARGIN, _ROUNDING, SoftTopK, top_window, window_size
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
    )
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


def first_full_block_end(scores, eps, window):
    """Brute force: the first end of a PAV block of the whole-catalogue soft rank at or after M
    (θ + z̃ is constant within a block); m where none is."""
    ranks = soft_rank(scores, eps=eps)
    theta, order = (scores / eps).sort(dim=1, descending=True)
    level = theta + ranks.gather(1, order)
    ends = (level[:, window:] - level[:, window - 1 : -1]).abs() > 1e-7
    ends = torch.cat([ends, ends.new_ones(ends.shape[0], 1)], dim=1)
    return window + ends.int().argmax(dim=1)


def certify(scores, eps, window):
    """The cut top_window certifies, and the ranks of the 2M best among themselves."""
    top = top_window(
        scores, SoftTopK(k=2, eps=eps, tau=1.0, offset=0.0), window=window, exclude=None
    )
    return top.cut, soft_rank(scores.topk(2 * window, dim=1).values.double(), eps=eps)


@pytest.mark.parametrize("kind", ["gaussian", "dense-bulk", "ties", "exponential", "uniform"])
def test_window_cut_is_never_wrong_and_seldom_too_cautious(gen, kind):
    # Brute force: a certified cut b is the first end of a PAV block of the whole-catalogue soft rank
    # at or after M, and the ranks of the b best items among the 2M best are their whole-catalogue
    # ranks; and most rows whose first block end lies within 2M are certified.
    rows, m, window = 128, 900, 30
    draw = {
        "gaussian": lambda: torch.randn(rows, m, generator=gen, dtype=torch.float64),
        "dense-bulk": lambda: torch.cat(
            [  # a spread top above a bulk packed just below it
                1 + torch.rand(rows, window + 5, generator=gen, dtype=torch.float64),
                1 - 0.02 * torch.rand(rows, m - window - 5, generator=gen, dtype=torch.float64),
            ],
            dim=1,
        ),
        "ties": lambda: torch.randint(0, 40, (rows, m), generator=gen).double() / 40,
        "exponential": lambda: -torch.rand(rows, m, generator=gen, dtype=torch.float64).log(),
        "uniform": lambda: 1 + torch.rand(rows, m, generator=gen, dtype=torch.float64),
    }[kind]
    for eps in (1e-4, 1e-3, 1 / m, 1e-2):
        scores = draw()
        cut, ranks = certify(scores, eps, window)
        end = first_full_block_end(scores, eps, window)
        certified = cut > 0
        assert torch.equal(cut[certified], end[certified])
        full = soft_rank(scores, eps=eps).sort(dim=1).values[:, : 2 * window]
        inside = torch.arange(2 * window) < cut[:, None]
        error = ((full - ranks).abs() * inside).amax(dim=1)
        assert error.max() < 1e-9
        reachable = end <= 2 * window
        assert not (certified & ~reachable).any()
        if kind not in ("ties", "uniform") or eps < 1e-3:
            # (about one item per ε there: blocks reach far below the cut, and only reading the
            # whole row would settle them, so those rows are ranked in full)
            assert certified.sum() >= 0.9 * reachable.sum() - 2


def test_window_cut_moves_past_a_block_that_straddles_m(gen):
    # A near-tie across position M pools items M and M + 1: truncating at M is wrong, the cut after
    # the pair is exact. Items 3 .. 3M, 0.9ε apart, form one block past 2M: no cut is certified.
    m, window, eps = 600, 20, 1e-3
    scores = (5 - 10 * eps * torch.arange(m, dtype=torch.float64)).repeat(3, 1)
    scores[1, window] = scores[1, window - 1] - 1e-3 * eps
    scores[2, 2 : 3 * window] = scores[2, 2] - 0.9 * eps * torch.arange(3 * window - 2)
    cut, _ = certify(scores, eps, window)
    assert cut.tolist() == [window, window + 1, 0]
    assert first_full_block_end(scores, eps, window).tolist() == [window, window + 1, 3 * window]


def test_window_cut_allows_for_float32_rounding(gen):
    # Near-ties placed just outside the float64 critical distance below position M are exact ties in
    # float32 at θ = score/ε ≈ 6000, where torchsort pools them: on a certified row the float32 ranks
    # of the items above the cut must not depend on the items below it.
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
    cut, _ = certify(scores, eps, window)
    certified = cut > 0
    assert certified.float().mean() > 0.5  # the check below is not vacuous
    position = scores.argsort(dim=1, descending=True).argsort(dim=1)  # 0 = best
    inside = position < cut[:, None]
    leaf = scores.clone().requires_grad_()
    (soft_rank(leaf, eps=eps) * inside).sum().backward()  # float32 ranks of the items above the cut
    coupled = (leaf.grad.abs() * ~inside).amax(dim=1) > 0
    assert not (certified & coupled).any()


MARGIN_PLACES = (-0.9, -0.5, -0.25, 2.0, 4.0)  # the near-tie's slack, in units of the margin


def near_tie_at_the_margin(dtype, *, window, cluster, m):
    """One row per :data:`MARGIN_PLACES` f: M items 3ε apart, then ``cluster`` tied items at
    g = (cluster + 1)/2 + x below the M-th, x = f·margin (the certificate's margin for ``dtype``),
    then the rest ≥ 50ε lower. Whole catalogue: S(n) = n(g − 1 − (n − 1)/2) at n = cluster (d_t = 0
    in the cluster, z̃_M = M) is n·x, so the cluster pools with item M iff x < 0. Among the 2M best
    only M cluster items show, and M ends a block whatever x. ε = 2⁻¹⁰ and θ on a 2⁻¹⁴ (float32) or
    2⁻⁴⁰ (float64) grid below 1024, so the scores, θ = score/ε and x are exact in ``dtype``."""
    eps, grid = 2.0**-10, 2.0 ** (-14 if dtype == torch.float32 else -40)
    top = 1000.0 - 3.0 * torch.arange(window, dtype=torch.float64)
    margin = _MARGIN + _ROUNDING * torch.finfo(dtype).eps * (1000.0 + m)  # max θ = 1000
    rows = []
    for place in MARGIN_PLACES:
        gap = (cluster + 1) / 2 + round(place * margin / grid) * grid
        tied = torch.full((cluster,), float(top[-1]) - gap, dtype=torch.float64)
        rest = tied[0] - 50 - 3.0 * torch.arange(m - window - cluster, dtype=torch.float64)
        rows.append(torch.cat([top, tied, rest]))
    theta = torch.stack(rows)
    scores = (theta * eps).to(dtype)
    assert torch.equal(scores.double() / eps, theta)  # placed exactly
    return scores, eps


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_near_tie_within_the_margin_below_the_window_is_never_certified(dtype):
    # A near-tie placed at ±fractions of the float-rounding margin at the window's edge: the rows
    # where the cluster below M pools with item M (x < 0) must not be certified at M, however
    # close to 0 — a margin applied with the wrong sign (a looser inequality) certifies the ones
    # within it. Reference: torchsort's soft rank over the whole catalogue, in float64.
    window, cluster, m = 10, 20, 200
    scores, eps = near_tie_at_the_margin(dtype, window=window, cluster=cluster, m=m)
    soft = SoftTopK(k=window, eps=eps, tau=1.0, offset=0.0)  # item M's membership σ(0): sensitive
    top = top_window(scores, soft, window=window, exclude=None)
    full = torchsort.soft_rank(-scores.double(), regularization_strength=eps)  # rank 1 = best
    level = scores.double() / eps + full  # θ + z̃, constant within a PAV block (columns in order)
    pooled = (level[:, window] - level[:, window - 1]).abs() < 1e-9  # item M with the cluster
    assert pooled.tolist() == [place < 0 for place in MARGIN_PLACES]  # the placement is right
    exact = torch.sigmoid(window - full)  # eq. (8), k = M, τ = 1, offset 0, whole catalogue
    for row in top.exact.nonzero().flatten().tolist():
        items = top.items[row, : top.cut[row]]
        torch.testing.assert_close(
            top.membership[row, : top.cut[row]].double(),
            exact[row, items],
            atol=1e-6 if dtype == torch.float32 else 1e-12,
            rtol=0,
        )
    assert top.cut.tolist() == [0, 0, 0, window, window]  # certified only beyond the margin
