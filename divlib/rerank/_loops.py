"""The greedy selection loops that :mod:`~divlib.rerank.greedy` (on a candidate pool) and
:mod:`~divlib.rerank.explore` (on the whole catalogue) share: MMR's, and the DPP greedy MAP by
incremental Cholesky. They check nothing; their callers do."""

import torch


def greedy_mmr(
    first: torch.Tensor, base: torch.Tensor, similarity: torch.Tensor, k: int, lam: float
) -> torch.Tensor:
    """MMR's greedy loop: pick ``argmax first``, then ``argmax base - (1 - lam) max_{j in Y} S_ij``
    over the unpicked; ``first`` and ``base`` ``(B, N)`` are -inf off the candidates, ``similarity``
    is as :func:`_rows` reads it. ``(B, k)`` positions along N."""
    pick = first.max(dim=1).indices
    picks = [pick]
    nearest = _rows(similarity, pick)  # max_{j in Y} S_ij
    for _ in range(k - 1):
        gain = base - (1 - lam) * nearest
        gain.scatter_(1, torch.stack(picks, dim=1), float("-inf"))
        pick = gain.max(dim=1).indices
        picks.append(pick)
        torch.maximum(nearest, _rows(similarity, pick), out=nearest)
    return torch.stack(picks, dim=1)


def greedy_map(
    quality: torch.Tensor,
    similarity: torch.Tensor,
    gain: torch.Tensor,
    fill: torch.Tensor,
    tol: torch.Tensor,
    k: int,
    *,
    tie: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The greedy MAP loop of :func:`~divlib.rerank.greedy.dpp` for
    ``L = diag(quality) S diag(quality)``, ``similarity`` as :func:`_rows` reads it; ``gain``
    ``(B, N)``: the initial d² (``L_ii``), -inf off the candidates, updated in place. Once a row's
    best d² <= ``tol`` ``(B,)``, its remaining picks are the unpicked candidates in descending
    ``fill`` and its Cholesky updates are zero. ``tie`` ``(B,)``: pick the lowest position whose d²
    is within ``tie`` of the best (else the first maximum). Returns the ``(B, k)`` positions and the
    ``(B,)`` number of picks made by ``fill``."""
    batch, n = quality.shape
    rows = torch.arange(batch, device=quality.device)
    cholesky = quality.new_empty(batch, k - 1, n)  # row t: e_i of step t for every i
    picks = []
    completed = torch.zeros(batch, dtype=torch.int64, device=quality.device)
    for step in range(k):
        d2_pick, pick = gain.max(dim=1)
        spent = d2_pick <= tol  # (B,) the kernel's rank is spent: fill in `fill` order
        if tie is not None:
            pick = (gain >= (d2_pick - tie)[:, None]).to(torch.int32).argmax(dim=1)
            d2_pick = gain[rows, pick]
        any_spent = bool(spent.any())
        if any_spent:
            unpicked = fill.masked_fill(gain.isneginf(), float("-inf"))  # taken or excluded: -inf
            pick = torch.where(spent, unpicked.max(dim=1).indices, pick)
            completed += spent
        picks.append(pick)
        gain[rows, pick] = float("-inf")
        if step == k - 1:
            break
        update = _rows(similarity, pick).mul_(quality[rows, pick, None]).mul_(quality)  # L_ji
        done = cholesky[:, :step]  # (B, step, N)
        update -= torch.bmm(done[rows, :, pick][:, None, :], done).squeeze(1)  # - <c_j, c_i>
        update /= d2_pick.clamp_min(tol).sqrt()[:, None]
        if any_spent:
            update.masked_fill_(spent[:, None], 0.0)
        cholesky[:, step] = update
        gain -= update * update
    return torch.stack(picks, dim=1), completed


def _rows(matrices: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``matrices[b, index[b], :]`` for contiguous ``(B, N, N)`` matrices, or
    ``matrices[index[b], :]`` for one shared ``(N, N)`` matrix, as a new ``(B, N)`` tensor."""
    if matrices.dim() == 2:
        return matrices.index_select(0, index)
    batch, n, _ = matrices.shape
    flat_index = torch.arange(batch, device=index.device) * n + index
    return matrices.view(batch * n, n).index_select(0, flat_index)
