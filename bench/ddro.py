"""Forward + backward of DDRO at ML-1M size: the official formulation against divlib, four settings.

    python bench/ddro.py [--users 6040] [--items 3706] [--k 10] [--repeats 3] [--check-users 512]
                         [--device cpu] [--threads N]

Scores are uniform on [1, 5] ("wide": the spread of rating predictions) and on [1, 2] ("compressed": a
model whose outputs lie in [0, 1] shifted by one), at ε = 1e-4 and ε = 1/m; categories are 18 binary
genres drawn so that about 300 distinct category sets occur; k = 10, τ = 1, and divlib at ``offset=1``,
the official code's indicator σ(rank − (m − k)). For each setting it prints, in float32: the seconds of
forward + backward of the mean over users (official: one run, divlib: the median of ``--repeats`` after a
warm-up), the speed-up, and the share of users whose window has a certified cut (the others are ranked
over the whole catalogue). On the first ``--check-users`` users, in float64: the largest relative
difference in value, and in gradient (relative to its largest entry), between divlib and the official
formulation with divlib's denominator (:func:`reference_ddro`); and the error of each one's float32
gradient against its float64 gradient.
"""

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torchsort

from divlib import GroupedDistance, ddro
from divlib._window import SoftTopK, top_window, window_size

SPREADS = {"wide": (1.0, 5.0), "compressed": (1.0, 2.0)}


def official_ddro(scores: torch.Tensor, distance: torch.Tensor, k: int, eps: float) -> torch.Tensor:
    """tianyichow-tcs/DDRO@82b1e11 ``code/cosine_distance.py``: whole-catalogue soft rank, dense form."""
    ranks = torchsort.soft_rank(scores, regularization_strength=eps)  # ascending
    top = torch.sigmoid(ranks - (scores.shape[1] - k))
    numerator = ((top @ distance) * top).sum(dim=1)
    denominator = top.sum(dim=1) ** 2 - (top**2).sum(dim=1)
    return numerator / (denominator + 1e-8)


def reference_ddro(
    scores: torch.Tensor, distance: torch.Tensor, k: int, eps: float
) -> torch.Tensor:
    """The official formulation with eq. (9)'s denominator floored at 1e-8, as divlib's, not + 1e-8.

    The two denominators differ only where the soft pair count is below about 1e-6: a degenerate soft
    top-k, as compressed scores at ε = 1/m give (the best item's soft rank is 20–45 there)."""
    ranks = torchsort.soft_rank(scores, regularization_strength=eps)
    top = torch.sigmoid(ranks - (scores.shape[1] - k))
    pairs = top.sum(dim=1) ** 2 - (top**2).sum(dim=1)
    return ((top @ distance) * top).sum(dim=1) / pairs.clamp_min(1e-8)


def make_categories(items: int, seed: int = 0) -> torch.Tensor:
    """18-genre category rows drawn from 300 sets with Zipf-like popularity."""
    gen = torch.Generator().manual_seed(seed)
    genre_sets = (torch.rand(300, 18, generator=gen) < 0.15).float()
    genre_sets[:, 0] += (genre_sets.sum(dim=1) == 0).float()  # every set has a genre
    set_popularity = 1.0 / torch.arange(1, 301, dtype=torch.float64) ** 0.8  # Zipf-like
    return genre_sets[torch.multinomial(set_popularity, items, replacement=True, generator=gen)]


def value_and_gradient(
    fn: Callable[[torch.Tensor], torch.Tensor], scores: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Values of ``fn(scores)``, the gradient of their mean, and the seconds both took."""
    leaf = scores.detach().clone().requires_grad_()
    start = time.perf_counter()
    values = fn(leaf)
    values.mean().backward()
    if leaf.is_cuda:
        torch.cuda.synchronize()
    return values.detach(), leaf.grad, time.perf_counter() - start


def median_seconds(
    fn: Callable[[torch.Tensor], torch.Tensor], scores: torch.Tensor, repeats: int
) -> float:
    """Median seconds of forward + backward over ``repeats`` runs after a warm-up."""
    value_and_gradient(fn, scores)
    return statistics.median(value_and_gradient(fn, scores)[2] for _ in range(repeats))


def gradient_error(gradient: torch.Tensor, reference: torch.Tensor) -> float:
    """Largest difference from ``reference``, relative to its largest entry."""
    return ((gradient.double() - reference).abs().max() / reference.abs().max()).item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=6040)
    parser.add_argument("--items", type=int, default=3706)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--check-users", type=int, default=512)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch's CPU threads (default: torch's own)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    k, m = args.k, args.items
    grouped = GroupedDistance.from_categories(make_categories(m)).to(args.device)
    dense = grouped.dense()
    uniform = torch.rand(args.users, m, generator=torch.Generator().manual_seed(0))
    print(
        f"{args.users} users x {m} items, {grouped.n_groups} category sets, k={k}, τ=1, "
        f"device={args.device}, threads={torch.get_num_threads()}; seconds of forward + backward"
    )
    header = (
        f"{'spread':10s} {'eps':>8s} {'official':>9s} {'divlib':>7s} {'speed-up':>8s} "
        f"{'certified':>9s} {'value diff':>10s} {'grad diff':>9s} {'f32 grad err: official':>22s} "
        f"{'divlib':>7s}"
    )
    print(header)
    for spread, (low, high) in SPREADS.items():
        for eps in (1e-4, 1 / m):
            scores = (low + (high - low) * uniform).to(args.device)

            def official(s, eps=eps):
                return official_ddro(s, dense.to(s.dtype), k, eps)

            def ours(s, eps=eps):
                return ddro(s, distance=grouped.to(dtype=s.dtype), k=k, eps=eps, offset=1)

            official_seconds = value_and_gradient(official, scores)[2]
            divlib_seconds = median_seconds(ours, scores, args.repeats)
            soft = SoftTopK(k=k, eps=eps, tau=1.0, offset=1)
            window = window_size("auto", soft, m=m)
            certified = top_window(scores, soft, window=window, exclude=None).exact.float().mean()

            check = scores[: args.check_users]
            reference, reference_grad, _ = value_and_gradient(
                lambda s, eps=eps: reference_ddro(s, dense.double(), k, eps), check.double()
            )
            values, grad, _ = value_and_gradient(ours, check.double())
            value_diff = ((values - reference).abs() / reference.abs()).max().item()
            official_f64 = value_and_gradient(official, check.double())[1]
            official_f32 = value_and_gradient(official, check)[1]
            divlib_f32 = value_and_gradient(ours, check)[1]
            print(
                f"{spread:10s} {eps:8.2g} {official_seconds:9.3f} {divlib_seconds:7.3f} "
                f"{official_seconds / divlib_seconds:7.1f}x {certified:9.1%} {value_diff:10.1e} "
                f"{gradient_error(grad, reference_grad):9.1e} "
                f"{gradient_error(official_f32, official_f64):22.1e} "
                f"{gradient_error(divlib_f32, reference_grad):7.1e}"
            )


if __name__ == "__main__":
    main()
