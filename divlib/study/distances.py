"""The item distances D = 1 − S that runs are trained and measured with, by the name of S: the paper's
genre Jaccard (the similarity stage's file), or the cosine of a pretrained model's item embeddings
(:func:`divlib.similarity.cosine_distance` of the model's ``item_embeddings()``, frozen at
pretraining: fine-tuning moves the embeddings, not S)."""

import torch
from torch import nn

from divlib.errors import DivlibError
from divlib.similarity import DenseDistance, ItemDistance, cosine_distance, load_distance
from divlib.study.layout import Layout

GENRE_JACCARD, EMBEDDING_COSINE = "genre-jaccard", "embedding-cosine"
SIMILARITIES = (GENRE_JACCARD, EMBEDDING_COSINE)


def item_distance(
    similarity: str, *, layout: Layout, dataset: str, model: nn.Module
) -> ItemDistance:
    """The item distance of ``similarity`` (one of :data:`SIMILARITIES`) on ``dataset``:
    ``genre-jaccard`` reads the similarity stage's file; ``embedding-cosine`` is computed from the
    pretrained ``model`` (each seed's model has its own)."""
    if similarity == GENRE_JACCARD:
        return load_distance(layout.distance(dataset))
    if similarity == EMBEDDING_COSINE:
        with torch.no_grad():
            return DenseDistance(cosine_distance(model.item_embeddings().detach().cpu()))
    raise DivlibError(
        f"unknown item similarity {similarity!r}; the similarities are {', '.join(SIMILARITIES)}"
    )
