"""Random streams of the data path drawn from (seed, epoch) alone, never from the global RNG.

A DataLoader without its own generator draws its workers' base seed from the global torch RNG each
time it is iterated, and RandomSampler draws its permutation from it too; anything else that touches
the global RNG (a progress bar, logging, another loader) would then shift every later shuffle and crop.
Here the train order comes from a sampler whose permutation is a function of (seed, epoch) (Lightning
calls `set_epoch` before each epoch, so a resumed run draws what an uninterrupted one draws), and each
train image's augmentation draws come from (seed, epoch, sample index) alone: the sampler hands the
dataset a `Draw(epoch, index)` and `SeededSamples` seeds the transform from it. So the crops do not
depend on which loader worker serves a sample, on how long its (persistent) worker has lived, or on
data.num_workers: a run resumed after a kill, with fresh workers, draws what the uninterrupted run drew.
Loader workers still seed their RNGs from (seed, stream, rank, worker id), for anything else they draw.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from tl_lightning.data.sampling import rank

# Distinct streams for distinct purposes, so e.g. the view choice never repeats the shuffle's draws.
STREAMS = {"shuffle": 0, "views": 1, "loader": 2, "cache_pass": 3, "augment": 4}


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


class Draw(NamedTuple):
    """What a keyed train sampler yields: sample `index` in `epoch` (counted from 0)."""

    epoch: int
    index: int


@contextmanager
def seeded_draws(seed: int, draw: Draw) -> Iterator[None]:
    """Torch's global CPU RNG seeded from (seed, epoch, index) inside, and left as it was after."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed((stream_seed(seed, "augment", draw.epoch) * 1_000_003 + draw.index) % (2**63 - 1))
        yield


class SeededSamples(Dataset):
    """`dataset[index]` for a `Draw`, its transform's random draws (torchvision v2: torch's RNG) from the Draw."""

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset, self.seed = dataset, int(seed)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, draw: Draw) -> Any:
        with seeded_draws(self.seed, draw):
            return self.dataset[draw.index]


def drop_last(n: int, batch_size: int) -> bool:
    """The one rule for every train loader: drop a lone last sample (it would crash BatchNorm in train mode).

    With it an epoch has floor(n / b) steps when n % b == 1, else ceil(n / b); e.g. 61 at n=245, b=4.
    """
    return n > 1 and n % batch_size == 1


class EpochShuffle(Sampler):
    """A permutation of range(n) drawn from (seed, epoch); with `views` > 1 each index also gets one of
    `views` cached views, drawn from its own (seed, epoch) stream and encoded as view * n + index.
    `keyed`: yield Draw(epoch, index) instead, for a SeededSamples dataset (augmented images)."""

    def __init__(self, n: int, seed: int, views: int = 1, keyed: bool = False) -> None:
        self.n, self.seed, self.views, self.epoch, self.keyed = n, int(seed), views, 0, keyed

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int | Draw]:
        order = torch.randperm(self.n, generator=generator(self.seed, "shuffle", self.epoch))
        if self.keyed:
            yield from (Draw(self.epoch, i) for i in order.tolist())
            return
        if self.views > 1:
            order = order + self.n * torch.randint(
                self.views, (self.n,), generator=generator(self.seed, "views", self.epoch)
            )
        yield from order.tolist()
