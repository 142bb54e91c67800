"""Training: relevance pretraining, and joint relevance–diversity training by DDT and MDR."""

from divlib.train.common import TrainResult, mean_squared_error
from divlib.train.diversify import (
    DiversityLoss,
    DiversityOptions,
    FinetuneOptions,
    finetune,
    mdr_weights,
)
from divlib.train.interactions import Interactions
from divlib.train.pretrain import PretrainOptions, pretrain

__all__ = [
    "DiversityLoss",
    "DiversityOptions",
    "FinetuneOptions",
    "Interactions",
    "PretrainOptions",
    "TrainResult",
    "finetune",
    "mdr_weights",
    "mean_squared_error",
    "pretrain",
]
