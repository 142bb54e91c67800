r"""Post-hoc diversity re-rankers: pick k of each user's N candidates, batched over users.

A model's top-N list per user (:func:`candidate_pool`) is re-ranked greedily
(:mod:`~divlib.rerank.greedy`) by

* :func:`mmr`, maximal marginal relevance (Carbonell & Goldstein 1998),
* :func:`dum`, diversity by uncovered categories (Ashkan et al. 2015),
* :func:`dpp`, greedy MAP inference of a determinantal point process (Chen et al. 2018).

Conventions:

* ``relevance`` is ``(B, N)``: the candidates' predicted scores, one row per user.
* ``similarity`` is ``(B, N, N)`` with :math:`S_{ij} \in [0, 1]` between a user's candidates; for
  divlib's Jaccard distance D it is ``1 - distance.block(items)``.
* The result is ``(B, k)`` int64 *positions into the candidate axis*, in selection order; map them
  to item ids with ``items.gather(1, positions)``.
* Ties go to the lower candidate position (``Tensor.max(dim)`` returns the first maximum), i.e. to
  the more relevant candidate when the pool is sorted as :func:`candidate_pool` sorts it.

Every function loops over the k selection steps (and :func:`dum` over categories, to pack them),
never over users; it computes on the device of its inputs and is deterministic.

The paper's own runs (Table III, from EXPLORE's ``strategy/competitors.py``;
:mod:`~divlib.rerank.explore`) re-rank every item the user has not rated, not a pool, with the
predicted ratings clipped to [1, 5] as relevance and no trade-off grid: :func:`mmr_paper` (λ = 0.5,
unscaled ratings) and :func:`dpp_paper` (kernel diag(r) S diag(r)). They take one shared ``(m, m)``
similarity and an ``exclude`` mask and return item ids.

:func:`rerank_all` (:mod:`~divlib.rerank.driver`) runs the whole trade-off grid for every user of a
model, in batches of users, with :func:`paper_rerankings`' two runs.
"""

from divlib.rerank.driver import PAPER_RUNS, Run, paper_rerankings, rerank_all
from divlib.rerank.explore import (
    PAPER_DPP_TIE,
    PAPER_DPP_TOL,
    PAPER_LAMBDA,
    RATING_RANGE,
    dpp_paper,
    mmr_paper,
)
from divlib.rerank.greedy import candidate_pool, dpp, dum, mmr

__all__ = [
    "PAPER_DPP_TIE",
    "PAPER_DPP_TOL",
    "PAPER_LAMBDA",
    "PAPER_RUNS",
    "RATING_RANGE",
    "Run",
    "candidate_pool",
    "dpp",
    "dpp_paper",
    "dum",
    "mmr",
    "mmr_paper",
    "paper_rerankings",
    "rerank_all",
]
