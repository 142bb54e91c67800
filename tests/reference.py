"""Slow references written from the equations, never from divlib's fast code: plain Python loops."""

import itertools
import math

import torch
import torchsort


def brute_dro(scores: torch.Tensor, distance: torch.Tensor, k: int, start: int = 0) -> list[float]:
    """Eq. (5) as a mean over distinct pairs of the items ranked start+1..start+k (sorted by hand)."""
    values = []
    for row in scores.tolist():
        order = sorted(range(len(row)), key=lambda i: -row[i])[start : start + k]
        pairs = [(i, j) for i in order for j in order if i != j]
        values.append(sum(distance[i, j].item() for i, j in pairs) / len(pairs))
    return values


def brute_ddro(membership: torch.Tensor, distance: torch.Tensor) -> list[float]:
    """Eq. (9) by a double loop: Σ_ij l_i l_j D_ij / ((Σ l)² − Σ l²)."""
    values = []
    for row in membership.tolist():
        numerator = sum(
            row[i] * row[j] * distance[i, j].item()
            for i, j in itertools.product(range(len(row)), repeat=2)
        )
        denominator = sum(row) ** 2 - sum(x * x for x in row)
        values.append(numerator / denominator)
    return values


def brute_jaccard(categories: torch.Tensor) -> torch.Tensor:
    """Σ min / Σ max per pair, with 0/0 taken as similarity 1 (two items without categories)."""
    rows = categories.double().tolist()
    m = len(rows)
    out = torch.zeros(m, m, dtype=torch.float64)
    for i, j in itertools.product(range(m), repeat=2):
        low = sum(min(a, b) for a, b in zip(rows[i], rows[j], strict=True))
        high = sum(max(a, b) for a, b in zip(rows[i], rows[j], strict=True))
        out[i, j] = 0.0 if high == 0 else 1.0 - low / high
    return out


def hard_descending_ranks(row: list[float]) -> list[int]:
    """Rank 1 for the largest value (no ties expected)."""
    order = sorted(range(len(row)), key=lambda i: -row[i])
    ranks = [0] * len(row)
    for position, item in enumerate(order, start=1):
        ranks[item] = position
    return ranks


def official_ddro(scores: torch.Tensor, distance: torch.Tensor, k: int, eps: float) -> torch.Tensor:
    """tianyichow-tcs/DDRO@82b1e11 ``code/cosine_distance.py`` (CosineDistanceDiversity), transcribed:
    ascending soft rank, indicator sigmoid(rank − (m − k)), ((L @ D) * L).sum(1) / (den + 1e-8)."""
    ranks = torchsort.soft_rank(scores, regularization_strength=eps)
    top = torch.sigmoid(1 * (ranks - (scores.shape[1] - k)))
    numerator = ((top @ distance) * top).sum(1)
    denominator = top.sum(1) ** 2 - (top**2).sum(1)
    return numerator / (denominator + 1e-8)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


class FixedScores(torch.nn.Module):
    """A model whose ``score_all`` reads a fixed ``(n_users, m)`` score table."""

    def __init__(self, scores: torch.Tensor):
        super().__init__()
        self.register_buffer("scores", scores)

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        return self.scores[users]


def naive_dpp(quality, similarity, k):
    """Greedy log-determinant selection, one slogdet per candidate and step."""
    kernel = quality[:, None] * similarity * quality[None, :]
    chosen = []
    for _ in range(k):
        best, best_value = None, -math.inf
        for i in range(len(quality)):
            if i in chosen:
                continue
            idx = torch.tensor(chosen + [i])
            sign, logdet = torch.linalg.slogdet(kernel[idx][:, idx])
            value = logdet.item() if sign > 0 else -math.inf
            if value > best_value:
                best, best_value = i, value
        chosen.append(best)
    return chosen


def loop_mmr(relevance, similarity, k, lam):
    """MMR for one user, relevance min-max scaled (all 0 when constant); ties to the lower index."""
    r, s = relevance.tolist(), similarity.tolist()
    lo, hi = min(r), max(r)
    scaled = [(x - lo) / (hi - lo) if hi > lo else 0.0 for x in r]
    chosen = [max(range(len(r)), key=lambda i: (r[i], -i))]
    while len(chosen) < k:
        gains = {
            i: lam * scaled[i] - (1 - lam) * max(s[i][j] for j in chosen)
            for i in range(len(r))
            if i not in chosen
        }
        chosen.append(max(gains, key=lambda i: (gains[i], -i)))
    return chosen


def loop_dum(relevance, categories, k):
    """DUM for one user: walk by descending relevance (ties to the lower index) and take each item
    that adds a category, then fill up to k in that order."""
    r = relevance.tolist()
    order = sorted(range(len(r)), key=lambda i: (-r[i], i))
    sets = [set(row.nonzero().flatten().tolist()) for row in categories]
    chosen, covered = [], set()
    for i in order:
        if len(chosen) < k and sets[i] - covered:
            chosen.append(i)
            covered |= sets[i]
    chosen += [i for i in order if i not in chosen][: k - len(chosen)]
    return chosen


def dpp_quality(relevance, theta):
    """DPP's quality q: the relevance (θ None), else exp(θ / (2(1 − θ)) · relevance min-max
    scaled)."""
    if theta is None:
        return relevance
    low, high = relevance.min(), relevance.max()
    return torch.exp(theta / (2 * (1 - theta)) * (relevance - low) / (high - low))


def brute_cosine_distance(embeddings: torch.Tensor) -> torch.Tensor:
    """1 − e_i·e_j / (|e_i| |e_j|) by a double loop over items, a zero vector's cosine taken as 0,
    the diagonal 0."""
    rows = embeddings.double().tolist()
    m = len(rows)
    out = torch.zeros(m, m, dtype=torch.float64)
    for i, j in itertools.product(range(m), repeat=2):
        dot = sum(a * b for a, b in zip(rows[i], rows[j], strict=True))
        norms = math.sqrt(sum(a * a for a in rows[i])) * math.sqrt(sum(b * b for b in rows[j]))
        out[i, j] = 0.0 if i == j else 1.0 - (dot / norms if norms > 0 else 0.0)
    return out


def brute_gini(counts: list[int]) -> float:
    """The Gini index of ``counts`` by its definition: the mean absolute difference over all ordered
    pairs, divided by twice the mean."""
    m, total = len(counts), sum(counts)
    return sum(abs(a - b) for a in counts for b in counts) / (2 * m * total)


def brute_exposure(lists: list[list[int]], n_items: int) -> list[int]:
    """How many slots of ``lists`` hold each item, by counting."""
    return [sum(row.count(item) for row in lists) for item in range(n_items)]
