"""Train augmentation on the training device: decoded images live there, loaders pass indices only.

At batch 64 a GPU trains VGG16 several times faster than CPU loader workers can crop and resize the
images. With the decoded uint8 images resident on the device, a train batch is a list of indices
(seeding.Draw: epoch and sample index); after the transfer each image goes through the same torchvision
v2 transforms as in the loader path, its random draws seeded from the same (seed, epoch, index), so both
paths give identical batches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch.utils.data import Dataset, default_collate

from tl_lightning.data.decoded import DecodedImages
from tl_lightning.data.seeding import Draw, seeded_draws

Transform = Callable[[torch.Tensor], torch.Tensor]


class IndexBatch(NamedTuple):
    """A train batch before augmentation: dataset indices and their labels."""

    # Plain ints stay on the host through Lightning's transfer: reading a device tensor back would
    # synchronise with the GPU on every step.
    index: list[Draw]
    target: torch.Tensor


class Indices(Dataset):
    """The samples of a DecodedImages as (draw, label); the images stay where the augmenter keeps them."""

    def __init__(self, images: DecodedImages) -> None:
        self.targets = images.targets

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, draw: Draw) -> tuple[Draw, int]:
        return draw, self.targets[draw.index]


def collate_indices(samples: list[tuple[Draw, int]]) -> IndexBatch:
    return IndexBatch([i for i, _ in samples], default_collate([t for _, t in samples]))


class DeviceAugmenter:
    """Turns an IndexBatch into an augmented image batch on the batch's device.

    `per_image` (the random crop and flip) runs image by image; `per_batch` (pointwise: to float,
    normalize) runs once on the stacked batch. Together they are the loader path's train transform.
    """

    def __init__(self, images: DecodedImages, per_image: Transform, per_batch: Transform, seed: int) -> None:
        self.images, self.per_image, self.per_batch, self.seed = images, per_image, per_batch, seed
        self._storage: dict[torch.device, torch.Tensor] = {}

    def storage(self, device: torch.device) -> torch.Tensor:
        """All decoded images as one flat uint8 tensor on `device`, copied there once."""
        if device not in self._storage:
            self._storage[device] = torch.from_numpy(self.images.storage[:]).to(device)
        return self._storage[device]

    def __call__(self, batch: IndexBatch) -> tuple[torch.Tensor, torch.Tensor]:
        storage = self.storage(batch.target.device)
        crops = []
        for draw in batch.index:
            with seeded_draws(self.seed, draw):  # the loader path's draws for this (epoch, index)
                crops.append(self.per_image(self.images.image(draw.index, storage)))
        return self.per_batch(torch.stack(crops)), batch.target
