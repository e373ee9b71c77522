"""Exact evaluation under Lightning's DDP: every val image counted once, predictions gathered in order.

Lightning's default DistributedSampler pads the val set to a multiple of the world size by repeating
images, which would count them twice in val accuracy. Evaluation loaders instead shard without padding
(rank r gets images r, r + W, r + 2W, ...); torchmetrics sums its states across ranks in compute(), so
accuracy and loss are exact, and `gather_in_order` puts the per-rank predictions back in dataset order.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import Dataset, Sampler


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def eval_sampler(dataset: Dataset) -> Sampler | None:
    """An unpadded, unshuffled shard of `dataset` for this rank; None outside DDP (plain sequential order).

    Uneven shards are safe here: evaluation runs without gradients, so DDP syncs nothing per batch.
    """
    if world_size() == 1:
        return None
    return UnrepeatedDistributedSampler(dataset, num_replicas=world_size(), rank=rank(), shuffle=False)


def gather_in_order(local: torch.Tensor) -> torch.Tensor:
    """Rows of every rank's `eval_sampler` shard, interleaved back into dataset order (on every rank)."""
    size = world_size()
    if size == 1:
        return local
    parts: list[torch.Tensor | None] = [None] * size
    dist.all_gather_object(parts, local.cpu())
    out = torch.empty(sum(len(p) for p in parts), *local.shape[1:], dtype=local.dtype)
    for rank, part in enumerate(parts):
        out[rank::size] = part  # rank r held dataset rows r, r + W, r + 2W, ...
    return out
