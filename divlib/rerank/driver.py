r"""The all-users drivers: every user's lists from a model, in batches of users.

:func:`rerank_all` runs the re-rankers of :mod:`~divlib.rerank.greedy` over their trade-off grids on
each user's candidate pool, and (by default) :func:`paper_rerankings`, the paper's runs of
:mod:`~divlib.rerank.explore` over every unseen item. Each run's lists are keyed by its
:data:`Run`, ``(method, param)``.
"""

import logging
from collections.abc import Sequence

import torch
from torch import nn

from divlib._validate import check_count, check_items
from divlib.errors import DivlibError
from divlib.rerank.explore import PAPER_DPP_TOL, PAPER_LAMBDA, dpp_paper, mmr_paper
from divlib.rerank.greedy import candidate_pool, dpp, dum, mmr
from divlib.similarity import ItemDistance

Run = tuple[str, float | None]  # (method, param): a re-ranker and its λ or θ (None for DUM)
PAPER_RUNS: tuple[Run, ...] = (("mmr-paper", PAPER_LAMBDA), ("dpp-paper", None))

log = logging.getLogger(__name__)


def rerank_all(
    model: nn.Module,
    exclude: torch.Tensor,
    distance: ItemDistance,
    categories: torch.Tensor,
    *,
    pool: int,
    length: int,
    mmr_lambdas: Sequence[float],
    dpp_thetas: Sequence[float | None],
    users_per_batch: int = 1024,
    device: torch.device | str = "cpu",
    paper: bool = True,
) -> dict[Run, torch.Tensor]:
    r"""Re-rank every user's candidates with DUM, MMR at each λ and DPP at each θ, and (``paper``)
    add the paper's runs of :func:`paper_rerankings`.

    Per batch of users: the model's scores, the :func:`~divlib.rerank.greedy.candidate_pool` of
    ``pool`` items outside ``exclude``, their similarities :math:`S = 1 - D`
    (``1 - distance.block(items)``) and category sets, then each re-ranker selects ``length`` of
    them.

    Args:
        model: a model with ``score_all(users) -> (B, m)`` scores; moved to ``device``.
        exclude: ``(n_users, m)`` bool, items that are never candidates (training and validation).
        distance: the item distance D; categories: ``(m, c)`` 0/1 item × category matrix.
        pool: candidates per user; length: list length, ``length <= pool``.
        mmr_lambdas: MMR's λ grid; dpp_thetas: DPP's θ grid (None: ``q = relevance``).
        users_per_batch: users per batch; bounds the ``(B, pool, pool)`` similarity blocks (the
            paper's runs batch users by :func:`paper_rerankings`' default).
        device: where to compute.
        paper: also return ``("mmr-paper", 0.5)`` and ``("dpp-paper", None)`` (:data:`PAPER_RUNS`).

    Returns:
        ``{(method, param): (n_users, length) int64 item ids}`` on the CPU, in the order dum, mmr
        (λ grid), dpp (θ grid), then mmr-paper and dpp-paper; DUM's and dpp-paper's param is None.
    """
    runs = [("dum", None)] + [("mmr", lam) for lam in mmr_lambdas]
    runs += [("dpp", theta) for theta in dpp_thetas]
    if len(set(runs)) < len(runs):
        raise DivlibError(f"the re-ranking grid repeats a setting: {runs}; list each λ and θ once")
    check_count("users_per_batch", users_per_batch, None)
    check_items(exclude, distance, categories)
    model.to(device)
    exclude, distance, categories = exclude.to(device), distance.to(device), categories.to(device)
    selected = {run: [] for run in runs}
    with torch.no_grad():
        for users in torch.arange(exclude.shape[0], device=device).split(users_per_batch):
            relevance, items = candidate_pool(model.score_all(users), exclude[users], pool)
            similarity = 1 - distance.block(items)
            item_categories = categories[items] > 0
            for method, param in runs:
                positions = _select(method, param, relevance, similarity, item_categories, length)
                selected[method, param].append(items.gather(1, positions))
    lists = {run: torch.cat(parts).cpu() for run, parts in selected.items()}
    if paper:
        lists |= paper_rerankings(model, exclude, distance, length=length, device=device)
    return lists


def paper_rerankings(
    model: nn.Module,
    exclude: torch.Tensor,
    distance: ItemDistance,
    *,
    length: int,
    users_per_batch: int = 128,
    device: torch.device | str = "cpu",
) -> dict[Run, torch.Tensor]:
    r"""The paper's re-rankings (:data:`PAPER_RUNS`): :func:`~divlib.rerank.explore.mmr_paper` at
    λ = 0.5 and :func:`~divlib.rerank.explore.dpp_paper` of every user, over all items outside
    ``exclude``, with :math:`S = 1 - D` and the model's predicted ratings. Logs how many DPP lists
    stopped early and how many positions were completed.

    Args:
        model: a model with ``score_all(users) -> (B, m)`` predicted ratings; moved to ``device``.
        exclude: ``(n_users, m)`` bool, items that are never candidates (training and validation).
        distance: the item distance D.
        length: list length.
        users_per_batch: users per batch; bounds DPP's ``(B, length, m)`` float64 Cholesky rows.
        device: where to compute.

    Returns:
        ``{("mmr-paper", 0.5): items, ("dpp-paper", None): items}``, ``(n_users, length)`` int64
        item ids on the CPU.
    """
    check_count("users_per_batch", users_per_batch, None)
    check_items(exclude, distance)
    model.to(device)
    exclude = exclude.to(device)
    similarity = 1 - distance.to(device, torch.float64).dense()
    mmr_parts, dpp_parts, completed = [], [], []
    with torch.no_grad():
        for users in torch.arange(exclude.shape[0], device=device).split(users_per_batch):
            ratings = model.score_all(users)
            mmr_parts.append(mmr_paper(ratings, similarity, exclude[users], length, PAPER_LAMBDA))
            items, filled = dpp_paper(ratings, similarity, exclude[users], length)
            dpp_parts.append(items)
            completed.append(filled)
    completed = torch.cat(completed)
    log.info(
        "dpp-paper: %d of %d lists stopped early (max d² < %g); %d of %d positions completed in "
        "relevance order",
        int(completed.count_nonzero()),
        completed.numel(),
        PAPER_DPP_TOL,
        int(completed.sum()),
        completed.numel() * length,
    )
    mmr_run, dpp_run = PAPER_RUNS
    return {mmr_run: torch.cat(mmr_parts).cpu(), dpp_run: torch.cat(dpp_parts).cpu()}


def _select(
    method: str,
    param: float | None,
    relevance: torch.Tensor,
    similarity: torch.Tensor,
    categories: torch.Tensor,
    k: int,
) -> torch.Tensor:
    """The ``(B, k)`` candidate positions that re-ranker ``method`` at ``param`` selects."""
    if method == "dum":
        return dum(relevance, categories, k)
    if method == "mmr":
        return mmr(relevance, similarity, k, param)
    return dpp(relevance, similarity, k, theta=param)
