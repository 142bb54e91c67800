"""divlib: differentiable top-k diversity for recommender models (Zhou et al., ICLR 2026)."""

from divlib.errors import DivlibError
from divlib.objectives import ddro, ddro_and_dro, dro
from divlib.ranking import soft_rank, soft_topk, topk_indicator, topk_items, topk_membership
from divlib.similarity import (
    DenseDistance,
    GroupedDistance,
    ItemDistance,
    as_item_distance,
    cosine_distance,
    jaccard_distance,
    load_distance,
    save_distance,
)
from divlib.tradeoff import adaptive_beta, feasible_beta_interval

__all__ = [
    "DenseDistance",
    "DivlibError",
    "GroupedDistance",
    "ItemDistance",
    "adaptive_beta",
    "as_item_distance",
    "cosine_distance",
    "ddro",
    "ddro_and_dro",
    "dro",
    "feasible_beta_interval",
    "jaccard_distance",
    "load_distance",
    "save_distance",
    "soft_rank",
    "soft_topk",
    "topk_indicator",
    "topk_items",
    "topk_membership",
]
