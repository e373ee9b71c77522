"""Run the frozen part of the network once, then train on its cached outputs.

The assignment's method 2: for `extractor` the frozen backbone's features (the head's input) are
computed once for train and val and the head trains on them for every epoch. For `mixed` the same is
done at the first trainable layer group, where the groups form one nn.Sequential (AlexNet, VGG16).
Both are exact: the frozen part runs in eval mode and holds no random op, so a cached activation equals
what the full network computes. The train views are fixed: the plain eval view (`plain`) or K augmented
views (`views-K`, one drawn per image per epoch from the seeded view stream); `fresh` (a new crop every
epoch) has nothing to cache and trains on images (regime.py).
"""

from __future__ import annotations

import logging

import lightning as L
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset

from tl_lightning.data import ImageFolderDataModule
from tl_lightning.data.sampling import eval_sampler
from tl_lightning.data.seeding import EpochShuffle, drop_last, generator, stream_seed, worker_init
from tl_lightning.features.passes import StoreUse, plain_inputs
from tl_lightning.model.cut import Cut, capture_inputs, find_cut
from tl_lightning.model.frozen_pass import FrozenPass, replay

__all__ = ["CachedDataModule", "CachedViews", "Cut", "build_cached_datamodule", "capture_inputs", "find_cut"]

log = logging.getLogger(__name__)


class CachedViews(Dataset):
    """Cached activations [views, N, ...]; index view * N + i is view `view` of sample i.

    The view is chosen by the sampler (EpochShuffle draws it from the seeded view stream), not here:
    a draw from the global RNG would shift with anything else that uses it.
    """

    def __init__(self, views: torch.Tensor, labels: torch.Tensor) -> None:
        self.views, self.labels = views, labels

    def __len__(self) -> int:
        return self.views.shape[1]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        view, sample = divmod(index, len(self))
        return self.views[view, sample], self.labels[sample]


class CachedDataModule(L.LightningDataModule):
    """Loaders over cached activations, standing in for the image datamodule during fit and test."""

    def __init__(self, train: CachedViews, val: CachedViews, batch_size: int, eval_batch_size: int, seed: int) -> None:
        super().__init__()
        self.train, self.val = train, val
        self.batch_size, self.eval_batch_size, self.seed = batch_size, eval_batch_size, seed

    def train_dataloader(self) -> DataLoader:
        n = len(self.train)
        return DataLoader(
            self.train,
            batch_size=self.batch_size,
            sampler=EpochShuffle(n, self.seed, views=self.train.views.shape[0]),
            drop_last=drop_last(n, self.batch_size),  # the image loader's rule: same steps per epoch
            generator=generator(self.seed, "loader"),
            pin_memory=torch.cuda.is_available(),
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(
            self.val,
            batch_size=self.eval_batch_size,
            sampler=eval_sampler(self.val),
            pin_memory=torch.cuda.is_available(),
        )

    def test_dataloader(self) -> DataLoader:
        return self.val_dataloader()


def build_cached_datamodule(
    model: nn.Module,
    cut: Cut,
    images: ImageFolderDataModule,
    views: int | None,
    batch_size: int,
    device: torch.device,
    precision: FrozenPass | None = None,
    use: StoreUse | None = None,
) -> CachedDataModule:
    """Cache the input of `cut.tap` for the train views (None: the plain eval view, through the feature store;
    K: K augmented views, computed by this run) and the val set (through the store). `precision`: how the frozen
    part runs (default fp32); `use`: the store (default none: everything computed here)."""
    frozen = precision or replay(None, device.type)
    use = use or StoreUse(None, off="no store given")
    model.to(device)
    plain, (val_x, val_y) = plain_inputs(model, cut.tap, images, batch_size, device, frozen, use, views is None)
    train_y = torch.tensor(images.train_set.targets)
    if plain is not None:
        train_views = plain[0][None]
    else:
        # A view's crops come from this run's seed and view stream, which no store key covers: never stored.
        log.info("Feature store: the %d augmented train views are computed by this run, not stored.", views)
        with torch.random.fork_rng(devices=[]):  # the global RNG is left as it was
            torch.manual_seed(stream_seed(images.seed, "cache_pass"))
            loaders = [_pass_loader(images.train_set, batch_size, images, view) for view in range(views)]
            train_views = torch.stack([capture_inputs(model, cut.tap, ld, device, frozen)[0] for ld in loaders])
    log.info("Cached %s input: train %s, val %s", cut.tap, tuple(train_views.shape), tuple(val_x.shape))
    return CachedDataModule(
        CachedViews(train_views, train_y),
        CachedViews(val_x[None], val_y),
        images.batch_size,
        images.eval_batch_size,
        images.seed,
    )


def _pass_loader(dataset: Dataset, batch_size: int, images: ImageFolderDataModule, index: int) -> DataLoader:
    """An in-order loader for caching pass `index`; its workers' seeds come from (seed, index), so K views differ."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=images.num_workers,
        generator=generator(images.seed, "cache_pass", index),
        worker_init_fn=worker_init(images.seed, "cache_pass", index),
    )
