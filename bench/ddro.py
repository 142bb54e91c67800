"""Forward + backward of DDRO on an ML-1M-sized problem: official formulation vs divlib's variants.

    python bench/ddro.py [--users 6040] [--items 3706] [--eps 1e-4] [--repeats 5] [--device cpu]
                         [--dtype float32|float64]

Scores are ~N(3.6, 0.6) (the spread of pretrained rating predictions), categories are 18 binary genres
drawn so that about 300 distinct category sets occur, k = 10, τ = 1. Prints the median time of
``--repeats`` runs after one warm-up, the speed-up over the official formulation, and the largest
difference in value from it. Variants are compared at ``offset=1``, the official code's indicator.
"""

import argparse
import statistics
import time

import torch
import torchsort

from divlib import DenseDistance, GroupedDistance, ddro, dro


def official_ddro(scores: torch.Tensor, distance: torch.Tensor, k: int, eps: float) -> torch.Tensor:
    """tianyichow-tcs/DDRO@82b1e11 ``code/cosine_distance.py``: whole-catalogue soft rank, dense form."""
    ranks = torchsort.soft_rank(scores, regularization_strength=eps)  # ascending
    top = torch.sigmoid(ranks - (scores.shape[1] - k))
    numerator = ((top @ distance) * top).sum(dim=1)
    denominator = top.sum(dim=1) ** 2 - (top**2).sum(dim=1)
    return numerator / (denominator + 1e-8)


def make_problem(users: int, items: int, seed: int = 0):
    """Scores, and 18-genre category rows drawn from 300 sets with Zipf-like popularity."""
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randn(users, items, generator=gen) * 0.6 + 3.6
    genre_sets = (torch.rand(300, 18, generator=gen) < 0.15).float()
    genre_sets[:, 0] += (genre_sets.sum(dim=1) == 0).float()  # every set has a genre
    set_popularity = 1.0 / torch.arange(1, 301, dtype=torch.float64) ** 0.8  # Zipf-like
    set_of_item = torch.multinomial(set_popularity, items, replacement=True, generator=gen)
    return scores, genre_sets[set_of_item]


def timed(fn, scores: torch.Tensor, repeats: int) -> tuple[float, torch.Tensor]:
    """Median seconds of forward + backward of ``fn(scores).mean()``; also the values of the last run."""
    times = []
    for run in range(repeats + 1):
        leaf = scores.detach().clone().requires_grad_()
        start = time.perf_counter()
        values = fn(leaf)
        values.mean().backward()
        if leaf.is_cuda:
            torch.cuda.synchronize()
        if run:
            times.append(time.perf_counter() - start)
    return statistics.median(times), values.detach()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=6040)
    parser.add_argument("--items", type=int, default=3706)
    parser.add_argument("--eps", type=float, default=1e-4)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = parser.parse_args()

    dtype = getattr(torch, args.dtype)
    scores, categories = make_problem(args.users, args.items)
    scores = scores.to(args.device, dtype)
    grouped = GroupedDistance.from_categories(categories).to(args.device, dtype)
    dense = DenseDistance(grouped.dense())
    k, eps = args.k, args.eps
    print(
        f"{args.users} users x {args.items} items, {grouped.n_groups} category sets, k={k}, "
        f"eps={eps:g}, device={args.device}, {args.dtype}, threads={torch.get_num_threads()}"
    )
    print(f"mean hard DRO@{k} of the scores: {dro(scores, distance=grouped, k=k).mean():.4f}")

    variants = {
        "official (soft rank all, (L@D)*L)": lambda s: official_ddro(s, dense.matrix, k, eps),
        "ddro DenseDistance, top_m=None": lambda s: ddro(
            s, distance=dense, k=k, eps=eps, offset=1, top_m=None
        ),
        "ddro GroupedDistance, top_m=None": lambda s: ddro(
            s, distance=grouped, k=k, eps=eps, offset=1, top_m=None
        ),
        "ddro GroupedDistance, top_m=auto": lambda s: ddro(
            s, distance=grouped, k=k, eps=eps, offset=1
        ),
        "ddro GroupedDistance, top_m=60": lambda s: ddro(
            s, distance=grouped, k=k, eps=eps, offset=1, top_m=60
        ),
    }
    reference_time, reference = timed(variants.pop("official (soft rank all, (L@D)*L)"), scores, 1)
    print(f"{'variant':40s} {'seconds':>9s} {'speed-up':>9s} {'max |diff|':>11s}")
    print(f"{'official (soft rank all, (L@D)*L)':40s} {reference_time:9.3f} {1.0:9.1f} {0.0:11.1e}")
    for name, fn in variants.items():
        seconds, values = timed(fn, scores, args.repeats)
        difference = (values - reference).abs().max().item()
        print(f"{name:40s} {seconds:9.3f} {reference_time / seconds:9.1f} {difference:11.1e}")

    weights = torch.rand(args.users, args.items, generator=torch.Generator().manual_seed(1))
    weights = weights.to(args.device, dtype)
    pair_dense, dense_sums = timed(lambda w: dense.pair_sum(w), weights, args.repeats)
    pair_grouped, grouped_sums = timed(lambda w: grouped.pair_sum(w), weights, args.repeats)
    relative = ((dense_sums - grouped_sums).abs() / dense_sums.abs()).max().item()
    print(
        f"pair_sum fwd+bwd: dense {pair_dense:.3f} s, grouped {pair_grouped:.4f} s, "
        f"speed-up {pair_dense / pair_grouped:.1f}, max relative diff {relative:.1e}"
    )


if __name__ == "__main__":
    main()
