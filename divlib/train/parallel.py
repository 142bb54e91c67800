"""Data parallelism under ``torch.distributed`` (torchrun; gloo on CPU, NCCL on GPU), in one place.

Every rank draws the same global batches and takes every W-th rating and user of them
(:func:`my_share`); losses are sums divided by the *global* batch sizes, and after the backward pass
the logged values and the gradients are summed over ranks (:func:`sum_over_ranks`), so a step is the
single-process step on the same global batch up to float summation order. Alone, both are identities.
"""

import torch
import torch.distributed as dist


def world_size() -> int:
    """The number of ranks; 1 when ``torch.distributed`` is not initialised."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def my_share(indices: torch.Tensor) -> torch.Tensor:
    """This rank's share of a global batch: every W-th entry from its rank on (all of it alone)."""
    world = world_size()
    return indices if world == 1 else indices[dist.get_rank() :: world]


def sum_over_ranks(*groups: list[torch.Tensor]) -> list[list[torch.Tensor]]:
    """Each tensor of each group summed over ranks (the same tensors when alone)."""
    if world_size() == 1:
        return list(groups)
    summed = []
    for group in groups:
        summed.append([tensor.clone() for tensor in group])
        for tensor in summed[-1]:
            dist.all_reduce(tensor)
    return summed
