r"""The paper's own re-rankers (Table III), ported from EXPLORE's ``strategy/competitors.py``.

They re-rank every item the user has not rated, not a pool, with the predicted ratings clipped to
:data:`RATING_RANGE` as relevance and no trade-off grid: :func:`mmr_paper` (λ =
:data:`PAPER_LAMBDA`, unscaled ratings) and :func:`dpp_paper` (kernel diag(r) S diag(r), greedy MAP
until :data:`PAPER_DPP_TOL`). They take one shared ``(m, m)`` similarity and an ``exclude`` mask,
compute in float64 as EXPLORE's numpy, and return item ids. The selection loops are those of
:func:`~divlib.rerank.greedy.mmr` and :func:`~divlib.rerank.greedy.dpp`.
"""

import math

import torch

from divlib._validate import check_catalogue, check_range
from divlib.rerank._loops import greedy_map, greedy_mmr

RATING_RANGE = (1.0, 5.0)  # the paper's runs clip predicted ratings to it (EXPLORE's clip_min/max)
PAPER_LAMBDA = 0.5  # EXPLORE's MMR λ
PAPER_DPP_TOL = 1e-10  # EXPLORE's greedy MAP stops once max_i d_i² < this
PAPER_DPP_TIE = 1e-12  # d² within this times max_i L_ii of the best: a tie, to the lowest item id


def mmr_paper(
    ratings: torch.Tensor,
    similarity: torch.Tensor,
    exclude: torch.Tensor,
    k: int,
    lam: float = PAPER_LAMBDA,
) -> torch.Tensor:
    r"""MMR as the paper ran it (EXPLORE's ``MMR``), over every item outside ``exclude``: with the
    predicted ratings clipped, :math:`r_i = \min(\max(\hat y_i, 1), 5)`, the first pick is
    :math:`\arg\max_i r_i`, then greedily

    .. math:: \arg\max_{i \notin Y} \; \lambda\, r_i - (1 - \lambda) \max_{j \in Y} S_{ij}

    with r *not* rescaled (1 to 5, against S in [0, 1]; unlike :func:`~divlib.rerank.greedy.mmr`).
    Computed in float64, as EXPLORE's numpy. Ties go to the lowest item id (the first maximum, as
    ``np.argmax`` over EXPLORE's candidates in item order). EXPLORE's lists hold positions in its
    candidate array, not item ids (a bug once any item is excluded); this returns the item ids of
    the same selection.

    Args:
        ratings: ``(B, m)`` predicted ratings over the catalogue.
        similarity: ``(m, m)`` symmetric item similarities S = 1 − D in [0, 1], shared by all
            rows.
        exclude: ``(B, m)`` bool, the items that are not candidates (rated in training or
            validation).
        k: list length; every row needs at least k candidates.
        lam: relevance weight λ in [0, 1].

    Returns:
        ``(B, k)`` int64 item ids in selection order.
    """
    check_catalogue(ratings, similarity, exclude, k)
    check_range("lam", lam, 0.0, 1.0)
    relevance = _clip(ratings)
    return greedy_mmr(
        relevance.masked_fill(exclude, float("-inf")),
        (lam * relevance).masked_fill(exclude, float("-inf")),
        similarity.to(relevance.dtype),
        k,
        lam,
    )


def dpp_paper(
    ratings: torch.Tensor, similarity: torch.Tensor, exclude: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""DPP as the paper ran it (EXPLORE's ``DPP``): :func:`~divlib.rerank.greedy.dpp`'s greedy
    MAP, in float64, over every item outside ``exclude``, with kernel
    :math:`L = \mathrm{diag}(r)\, S\, \mathrm{diag}(r)` on the clipped ratings
    :math:`r_i = \min(\max(\hat y_i, 1), 5)`: from :math:`d_i^2 = L_{ii}`, pick
    :math:`j = \arg\max_{i \notin Y} d_i^2`, then for every i

    .. math:: e_i = (L_{ji} - \langle c_j, c_i \rangle) / d_j, \qquad c_i \leftarrow (c_i, e_i),
              \qquad d_i^2 \leftarrow d_i^2 - e_i^2.

    EXPLORE stops once :math:`\max_{i \notin Y} d_i^2 < 10^{-10}` (the kernel's rank over the
    candidates is spent, e.g. each one left shares its category set with a pick), so its list can be
    shorter than k. Here such a list is *completed* to k with the remaining candidates in descending
    r, and the number of completed positions is returned. The stop is also tested at the first pick,
    where EXPLORE does not test it (:math:`L_{ii} = r_i^2 \ge 1` with :math:`S_{ii} = 1`, so it
    never stops there). Ties go to the lowest item id: in r, and in d², where candidates within
    :math:`10^{-12} \max_i L_{ii}` of the best count as tied. Candidates with the same clipped
    rating and equal or mirrored category sets tie exactly in exact arithmetic (common on real data:
    many films are "Drama" only), and rounding would break such a tie either way, in EXPLORE's
    ``np.dot`` too.

    Args:
        ratings: ``(B, m)`` predicted ratings over the catalogue.
        similarity: ``(m, m)`` symmetric positive semi-definite item similarities in [0, 1].
        exclude: ``(B, m)`` bool, the items that are not candidates (rated in training or
            validation).
        k: list length; every row needs at least k candidates.

    Returns:
        ``(items, completed)``: ``(B, k)`` int64 item ids in selection order, and ``(B,)`` int64 the
        number of trailing positions completed in relevance order (0 where the greedy MAP reached
        k).
    """
    check_catalogue(ratings, similarity, exclude, k)
    relevance = _clip(ratings)
    similarity = similarity.to(relevance.dtype)
    gain = (relevance * similarity.diagonal() * relevance).masked_fill(exclude, float("-inf"))
    # EXPLORE's d² < 1e-10, as d² <= the float64 just below 1e-10
    tol = relevance.new_full(relevance.shape[:1], math.nextafter(PAPER_DPP_TOL, 0.0))
    tie = PAPER_DPP_TIE * gain.amax(dim=1)
    return greedy_map(relevance, similarity, gain, relevance, tol, k, tie=tie)


def _clip(ratings: torch.Tensor) -> torch.Tensor:
    """The paper's relevance: predicted ratings clipped to :data:`RATING_RANGE`, in float64."""
    return ratings.to(torch.float64).clamp(*RATING_RANGE)
