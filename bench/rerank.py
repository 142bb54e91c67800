"""Users/s of the batched re-rankers (divlib.rerank.greedy) against a per-user numpy loop, at
MovieLens-1M size.

python bench/rerank.py [--users 6040] [--candidates 200] [--k 10] [--batch 1024] [--loop-users 300]
                       [--device cpu] [--threads 1]

Random ratings in [1, 5] and random category sets (1-3 of 18 per item); the candidate similarity is
1 - Jaccard distance of the category sets. Each re-ranker runs once on all users, and in calls of
--batch users (on CPU, blocks that fit in cache run faster). The loops run on the first --loop-users
users (users/s is extrapolated from them); all selections must be identical.
"""

import argparse
import time
from collections.abc import Callable
from functools import partial

import numpy as np
import torch

from divlib.rerank import candidate_pool, dpp, dum, mmr
from divlib.similarity import GroupedDistance


def mmr_loop(relevance: np.ndarray, similarity: np.ndarray, k: int, lam: float) -> list[int]:
    spread = relevance.max() - relevance.min()
    scaled = (relevance - relevance.min()) / spread if spread > 0 else np.zeros_like(relevance)
    chosen = [int(relevance.argmax())]
    taken = np.zeros(len(relevance), dtype=bool)
    nearest = np.full_like(relevance, -np.inf)
    while len(chosen) < k:
        taken[chosen[-1]] = True
        nearest = np.maximum(nearest, similarity[:, chosen[-1]])
        gain = lam * scaled - (1 - lam) * nearest
        gain[taken] = -np.inf
        chosen.append(int(gain.argmax()))
    return chosen


def dum_loop(relevance: np.ndarray, categories: np.ndarray, k: int) -> list[int]:
    order = np.argsort(-relevance, kind="stable")
    chosen, covered = [], np.zeros(categories.shape[1], dtype=bool)
    for i in order:
        if (categories[i] & ~covered).any():
            chosen.append(int(i))
            covered |= categories[i]
            if len(chosen) == k:
                return chosen
    return chosen + [int(i) for i in order if i not in chosen][: k - len(chosen)]


def dpp_loop(relevance: np.ndarray, similarity: np.ndarray, k: int) -> list[int]:
    """Chen et al.'s reference greedy (their fast_greedy_map), with divlib's rank-exhaustion fill."""
    kernel = relevance[:, None] * similarity * relevance[None, :]
    gain = np.diag(kernel).copy()
    tol = max(1e-10, 100 * np.finfo(gain.dtype).eps) * gain.max()
    cis = np.zeros((k, len(relevance)), dtype=kernel.dtype)
    chosen: list[int] = []
    for step in range(k):
        open_gain = gain.copy()
        open_gain[chosen] = -np.inf
        j = int(open_gain.argmax())
        if open_gain[j] <= tol:
            rest = relevance.copy()
            rest[chosen] = -np.inf
            chosen.append(int(rest.argmax()))
            continue
        chosen.append(j)
        eis = (kernel[j] - cis[:step, j] @ cis[:step]) / np.sqrt(gain[j])
        cis[step] = eis
        gain -= eis**2
    return chosen


def best_time(call: Callable[[], object], repeats: int, sync: bool) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        if sync:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=6040)
    parser.add_argument("--items", type=int, default=3706)
    parser.add_argument("--categories", type=int, default=18)
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--lam", type=float, default=0.5)
    parser.add_argument("--batch", type=int, default=1024, help="users per call, second column")
    parser.add_argument("--loop-users", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (the loops use one)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)

    count = torch.randint(1, 4, (args.items, 1), generator=gen)  # 1-3 categories per item
    shuffled = torch.rand(args.items, args.categories, generator=gen).argsort(dim=1).argsort(dim=1)
    item_categories = shuffled < count  # the item's first `count` categories of a random order
    scores = 1 + 4 * torch.rand(args.users, args.items, generator=gen)
    exclude = torch.rand(args.users, args.items, generator=gen) < 0.05  # "training items"
    relevance, items = candidate_pool(scores, exclude, args.candidates)
    similarity = 1 - GroupedDistance.from_categories(item_categories).block(items)
    categories = item_categories[items]
    print(
        f"{args.users} users, {args.candidates} candidates, k={args.k}; "
        f"{args.categories} categories, {item_categories.sum(1).float().mean():.2f} per item; "
        f"device {args.device}, {torch.get_num_threads()} threads"
    )

    device = torch.device(args.device)
    relevance_d, similarity_d, categories_d = (
        t.to(device) for t in (relevance, similarity, categories)
    )
    sub = slice(0, args.loop_users)
    r_np, s_np, c_np = relevance[sub].numpy(), similarity[sub].numpy(), categories[sub].numpy()
    methods = {
        f"mmr (lam={args.lam})": (
            lambda b: mmr(relevance_d[b], similarity_d[b], args.k, args.lam),
            lambda u: mmr_loop(r_np[u], s_np[u], args.k, args.lam),
        ),
        "dum": (
            lambda b: dum(relevance_d[b], categories_d[b], args.k),
            lambda u: dum_loop(r_np[u], c_np[u], args.k),
        ),
        "dpp": (
            lambda b: dpp(relevance_d[b], similarity_d[b], args.k),
            lambda u: dpp_loop(r_np[u], s_np[u], args.k),
        ),
    }
    blocks = [slice(start, start + args.batch) for start in range(0, args.users, args.batch)]
    sync = device.type == "cuda"
    print(
        f"{'users/s':<14} {f'B={args.users}':>10} {f'B={args.batch}':>10} "
        f"{'numpy loop':>11} {'ratio':>6}"
    )
    for name, (batched, loop) in methods.items():
        whole_s, picks = best_time(partial(batched, slice(None)), args.repeats, sync)
        block_s, block_picks = best_time(
            lambda batched=batched: torch.cat([batched(b) for b in blocks]), args.repeats, sync
        )
        loop_s, loop_picks = best_time(
            lambda loop=loop: [loop(u) for u in range(len(r_np))], args.repeats, sync=False
        )
        assert torch.equal(picks, block_picks), f"{name}: selections depend on the batch"
        assert picks[sub].tolist() == loop_picks, f"{name}: batched and loop selections differ"
        rates = [args.users / whole_s, args.users / block_s, len(r_np) / loop_s]
        print(
            f"{name:<14} {rates[0]:>10,.0f} {rates[1]:>10,.0f} {rates[2]:>11,.0f} "
            f"{max(rates[:2]) / rates[2]:>5.1f}x"
        )


if __name__ == "__main__":
    main()
