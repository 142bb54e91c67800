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


def test_adaptive_beta_lies_in_the_feasible_interval_when_opposed(gen):
    for g_rel, g_div in opposed_pairs(gen):
        lo, hi = feasible_beta_interval(g_rel, g_div)
        assert lo < adaptive_beta(g_rel, g_div) < hi


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
