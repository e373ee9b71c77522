"""Random streams of the data path drawn from (seed, epoch) alone, never from the global RNG.

A DataLoader without its own generator draws its workers' base seed from the global torch RNG each
time it is iterated, and RandomSampler draws its permutation from it too; anything else that touches
the global RNG (a progress bar, logging, another loader) would then shift every later shuffle and crop.
Here the train order comes from a sampler whose permutation is a function of (seed, epoch) (Lightning
calls `set_epoch` before each epoch, so a resumed run draws what an uninterrupted one draws), every
loader gets a generator seeded from the run's seed, and loader workers seed their RNGs from (seed,
stream, rank, worker id) alone: the base seed a DataLoader hands its workers was measured to change when
the loader is wrapped in a tqdm bar, so it is not used.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch.utils.data import Sampler

from tl_lightning.data.sampling import rank

# Distinct streams for distinct purposes, so e.g. the view choice never repeats the shuffle's draws.
STREAMS = {"shuffle": 0, "views": 1, "loader": 2, "cache_pass": 3}


def stream_seed(seed: int, stream: str, epoch: int = 0) -> int:
    """A 63-bit seed for one (seed, stream, epoch) triple."""
    mixed = (int(seed) * 1_000_003 + STREAMS[stream]) * 1_000_033 + int(epoch)
    return mixed % (2**63 - 1)


def generator(seed: int, stream: str, epoch: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(stream_seed(seed, stream, epoch))


def worker_init(seed: int, stream: str, epoch: int = 0) -> Callable[[int], None]:
    """A DataLoader worker_init_fn seeding torch, random and numpy from (seed, stream, epoch, rank, worker)."""
    return functools.partial(_seed_worker, stream_seed(seed, stream, epoch), rank())


def _seed_worker(base: int, rank: int, worker_id: int) -> None:
    seed = (base * 1_000_003 + rank * 1009 + worker_id) % (2**63 - 1)
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


def drop_last(n: int, batch_size: int) -> bool:
    """The one rule for every train loader: drop a lone last sample (it would crash BatchNorm in train mode).

    With it an epoch has floor(n / b) steps when n % b == 1, else ceil(n / b); e.g. 61 at n=245, b=4.
    """
    return n > 1 and n % batch_size == 1


class EpochShuffle(Sampler[int]):
    """A permutation of range(n) drawn from (seed, epoch); with `views` > 1 each index also gets one of
    `views` cached views, drawn from its own (seed, epoch) stream and encoded as view * n + index."""

    def __init__(self, n: int, seed: int, views: int = 1) -> None:
        self.n, self.seed, self.views, self.epoch = n, int(seed), views, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        order = torch.randperm(self.n, generator=generator(self.seed, "shuffle", self.epoch))
        if self.views > 1:
            order = order + self.n * torch.randint(
                self.views, (self.n,), generator=generator(self.seed, "views", self.epoch)
            )
        yield from order.tolist()
