import pytest
import torch

from divlib import DivlibError, adaptive_beta, feasible_beta_interval
from divlib.tradeoff import adam_metric, combine_gradients


def opposed_pairs(gen, count=200, dim=6):
    pairs = []
    while len(pairs) < count:
        g_rel = torch.randn(dim, generator=gen, dtype=torch.float64) * torch.rand(1, generator=gen)
        g_div = (
            torch.randn(dim, generator=gen, dtype=torch.float64) * 3 * torch.rand(1, generator=gen)
        )
        if torch.dot(g_rel, g_div) < 0:
            pairs.append((g_rel, g_div))
    return pairs


def test_adaptive_beta_is_the_grid_minimiser_of_the_joint_norm(gen):
    grid = torch.linspace(0, 1, 20001, dtype=torch.float64)
    for _ in range(100):
        g_rel = torch.randn(5, generator=gen, dtype=torch.float64)
        g_div = torch.randn(5, generator=gen, dtype=torch.float64) * 2
        norms = (grid[:, None] * g_rel + (1 - grid[:, None]) * g_div).norm(dim=1)
        assert adaptive_beta(g_rel, g_div) == pytest.approx(grid[norms.argmin()].item(), abs=1e-4)


def test_adaptive_beta_matches_the_closed_form_of_the_slides(gen):
    g_rel = torch.randn(7, generator=gen, dtype=torch.float64)
    g_div = torch.randn(7, generator=gen, dtype=torch.float64)
    a, b = g_rel.norm(), g_div.norm()
    rho = torch.dot(g_rel, g_div) / (a * b)
    expected = (b * (b - a * rho) / (a**2 + b**2 - 2 * a * b * rho)).clamp(0, 1)
    assert adaptive_beta(g_rel, g_div) == pytest.approx(expected.item())


def test_adaptive_beta_degenerate_gradients():
    zero, g = torch.zeros(3), torch.tensor([1.0, 2.0, 0.0])
    assert adaptive_beta(zero, g) == 1.0  # relevance already stationary: follow it
    assert adaptive_beta(g, zero) == 0.0
    assert adaptive_beta(g, g) == 0.5 and adaptive_beta(zero, zero) == 0.5
    assert adaptive_beta(g, 2 * g) == 1.0  # parallel: the shorter gradient has the smaller norm


def descents(beta: float, g_rel: torch.Tensor, g_div: torch.Tensor) -> tuple[float, float]:
    """First-order decreases ⟨g_β, g_rel⟩ and ⟨g_β, g_div⟩ of a step along −g_β."""
    g_beta = beta * g_rel + (1 - beta) * g_div
    return torch.dot(g_beta, g_rel).item(), torch.dot(g_beta, g_div).item()


def test_feasible_interval_descends_both_inside_and_not_just_outside(gen):
    for g_rel, g_div in opposed_pairs(gen):
        lo, hi = feasible_beta_interval(g_rel, g_div)
        assert 0 < lo < hi < 1
        for beta in torch.linspace(lo, hi, 9)[1:-1].tolist():
            assert min(descents(beta, g_rel, g_div)) > 0
        width = (hi - lo) * 1e-3
        assert descents(lo - width, g_rel, g_div)[0] <= 0
        assert descents(hi + width, g_rel, g_div)[1] <= 0


def test_adaptive_beta_lies_in_the_feasible_interval_for_every_pair_of_gradients(gen):
    r"""Lemma 3's "β* stays inside the interval" holds by algebra, so it is this test, not a verdict.

    With a = ‖g_rel‖, b = ‖g_div‖, c = ⟨g_rel, g_div⟩ and g_rel ≠ g_div, the min-norm point is
    β* = (b² − c) / (a² + b² − 2c), the denominator ‖g_rel − g_div‖² > 0.

    * c ≥ 0 (aligned or orthogonal): the interval is [0, 1] and β* is clipped to [0, 1].
    * c < 0 (opposed): the interval is (−c / (a² − c), b² / (b² − c)), all three denominators > 0.
      Cross-multiplying,
      β* > −c / (a² − c) ⇔ (b² − c)(a² − c) > −c (a² + b² − 2c) ⇔ a²b² − c(a² + b²) + c²
      > −c(a² + b²) + 2c² ⇔ a²b² > c², and
      β* < b² / (b² − c) ⇔ (b² − c)² < b² (a² + b² − 2c) ⇔ b⁴ − 2b²c + c² < a²b² + b⁴ − 2b²c
      ⇔ c² < a²b².
      Both are Cauchy–Schwarz, |c| ≤ ab, strict unless the gradients are antiparallel (ρ = −1),
      where the interval closes on the single point β* = b / (a + b). No gradient pair can put β*
      outside, so a share of steps "inside" measured on runs is 100 % by construction.

    Checked on random pairs of every kind (aligned, orthogonal, opposed, nearly and exactly
    antiparallel, one gradient 0), on the raw gradients and through
    :func:`combine_gradients` in a metric, against the interval computed from the formula above.
    """
    pairs = opposed_pairs(gen, count=100)
    for _ in range(100):  # any direction, including aligned ones
        pairs.append(tuple(torch.randn(2, 6, generator=gen, dtype=torch.float64)))
    e1, e2 = torch.eye(2, dtype=torch.float64)
    pairs += [
        (e1, e2),
        (e1, 3 * e1),
        (e1, -2 * e1),
        (e1, -2 * e1 + 1e-6 * e2),
        (0 * e1, e2),
        (e1, 0 * e1),
    ]
    for g_rel, g_div in pairs:
        a2, b2, c = g_rel @ g_rel, g_div @ g_div, g_rel @ g_div
        expected = (0.0, 1.0) if c >= 0 or a2 * b2 == 0 else (-c / (a2 - c), b2 / (b2 - c))
        lo, hi = feasible_beta_interval(g_rel, g_div)
        assert (lo, hi) == pytest.approx(tuple(map(float, expected)))
        beta = adaptive_beta(g_rel, g_div)
        assert lo - 1e-12 <= beta <= hi + 1e-12
        if c < 0 and (a2 * b2 - c**2) > 1e-9 * a2 * b2:  # opposed, not antiparallel: open interval
            assert lo < beta < hi
        metric = [torch.rand(g_rel.shape, generator=gen, dtype=torch.float64) + 0.1]
        _, step = combine_gradients([g_rel], [g_div], metric=metric)
        assert step.beta_low - 1e-12 <= step.beta <= step.beta_high + 1e-12
    assert adaptive_beta(e1, -2 * e1) == pytest.approx(feasible_beta_interval(e1, -2 * e1)[0])


def test_normalized_beta_is_the_min_norm_point_of_the_unit_gradients(gen):
    for g_rel, g_div in opposed_pairs(gen, count=20):
        a, b = g_rel.norm(), g_div.norm()
        grid = torch.linspace(0, 1, 100001, dtype=torch.float64)
        unit = grid[:, None] * (g_rel / a) + (1 - grid[:, None]) * (g_div / b)
        gamma = grid[unit.norm(dim=1).argmin()]  # weight of the unit relevance gradient
        expected = (gamma / a) / (gamma / a + (1 - gamma) / b)  # the same direction, original scale
        beta = adaptive_beta(g_rel, g_div, normalize=True)
        assert beta == pytest.approx(expected.item(), abs=1e-4)
        lo, hi = feasible_beta_interval(g_rel, g_div)
        assert lo < beta < hi


def test_feasible_interval_matches_the_slides_formula(gen):
    for g_rel, g_div in opposed_pairs(gen, count=20):
        a, b = g_rel.norm().item(), g_div.norm().item()
        rho = abs(torch.dot(g_rel, g_div).item()) / (a * b)
        expected = (b * rho / (a + b * rho), b / (b + a * rho))
        assert feasible_beta_interval(g_rel, g_div) == pytest.approx(expected)


def test_aligned_and_orthogonal_gradients():
    assert feasible_beta_interval(torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0])) == (0.0, 1.0)
    assert feasible_beta_interval(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])) == (0.0, 1.0)


def test_bad_gradients_are_named():
    with pytest.raises(DivlibError, match="same number of entries"):
        adaptive_beta(torch.zeros(3), torch.zeros(4))
    with pytest.raises(DivlibError, match="NaN or Inf"):
        adaptive_beta(torch.tensor([float("nan")]), torch.zeros(1))


def test_adam_metric_is_the_root_of_adams_bias_corrected_preconditioner():
    parameter = torch.nn.Parameter(torch.zeros(3))
    optimizer = torch.optim.AdamW([parameter], lr=0.1, betas=(0.9, 0.99), eps=1e-3)
    assert torch.equal(adam_metric(optimizer, [parameter])[0], torch.ones(3))  # P = I before a step
    g1, g2 = torch.tensor([1.0, -2.0, 0.5]), torch.tensor([3.0, 0.0, -1.0])
    for gradient in (g1, g2):
        parameter.grad = gradient.clone()
        optimizer.step()
    v = 0.99 * (0.01 * g1**2) + 0.01 * g2**2  # v_2, by hand
    v_hat = v / (1 - 0.99**2)  # bias-corrected
    expected = 1 / torch.sqrt(torch.sqrt(v_hat) + 1e-3)  # (√v̂ + ε)^(-1/2)
    torch.testing.assert_close(adam_metric(optimizer, [parameter])[0], expected)


def test_combined_gradient_is_the_min_norm_point_in_the_metric():
    g_rel = [torch.tensor([1.0, 0.0]), torch.tensor([[2.0]])]
    g_div = [torch.tensor([-1.0, 1.0]), torch.tensor([[0.0]])]
    metric = [torch.tensor([1.0, 2.0]), torch.tensor([[0.5]])]
    # Scaled: r = (1, 0, 1), d = (−1, 2, 0); β* = ⟨d, d − r⟩ / ‖r − d‖² = (2 + 4) / (4 + 4 + 1) = 2/3
    combined, step = combine_gradients(g_rel, g_div, metric=metric, rule="min-norm")
    assert step.beta == pytest.approx(2 / 3)
    assert (step.a, step.b) == pytest.approx((2**0.5, 5**0.5))
    assert step.rho == pytest.approx(-1 / (2**0.5 * 5**0.5))  # ⟨r, d⟩ = −1
    assert (step.beta_low, step.beta_high) == pytest.approx((1 / 3, 5 / 6))  # −c/(a²−c), b²/(b²−c)
    torch.testing.assert_close(combined[0], torch.tensor([1 / 3, 1 / 3]))  # the raw gradients mixed
    torch.testing.assert_close(combined[1], torch.tensor([[4 / 3]]))
    _, normalized = combine_gradients(g_rel, g_div, metric=metric, rule="normalized")
    assert normalized.beta == pytest.approx(5**0.5 / (2**0.5 + 5**0.5))  # b / (a + b)
    assert set(step.logged()) == {"a", "b", "rho", "beta_low", "beta_high"}
