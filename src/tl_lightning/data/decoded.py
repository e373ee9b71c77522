"""Decode every image once into uint8 tensors; augment on tensors after that.

The PIL pipeline re-decodes every JPEG every epoch. Here each image is decoded once and stored with its
shorter side resized (by PIL, exactly as the eval pipeline's first step) to the eval resize size, so the
eval view is bit-identical to the PIL pipeline and train crops come from the same picture.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision.datasets import ImageFolder
from torchvision.transforms import v2

from tl_lightning.data.images import load_rgb, resized_size
from tl_lightning.data.layout import DatasetError
from tl_lightning.data.spill import spill_array


def decode(path: str, short_side: int) -> np.ndarray:
    """RGB uint8 HWC, shorter side resized to `short_side` exactly as the eval pipeline's first step."""
    return np.asarray(v2.Resize(short_side, antialias=True)(load_rgb(path)))


def stored_shape(path: str, short_side: int) -> tuple[int, int, int]:
    """decode()'s output shape from the file's header alone (torchvision's Resize rule for an int size)."""
    with Image.open(path) as image:
        width, height = resized_size(image.size, short_side)
    return height, width, 3


class DecodedImages(Dataset):
    """An ImageFolder decoded once; images live in RAM, or in a memory-mapped file above `memory_limit_mb`."""

    def __init__(
        self,
        folder: ImageFolder,
        short_side: int,
        transform: Callable[[torch.Tensor], torch.Tensor],
        memory_limit_mb: float = 2048,
        workers: int | None = None,
    ) -> None:
        self.samples, self.targets, self.classes = folder.samples, folder.targets, folder.classes
        self.transform = transform
        paths = [p for p, _ in self.samples]
        # Sizes come from the headers, so the storage is allocated first and each image is decoded straight into
        # its slot: above memory_limit_mb no more than the images in flight are ever held in RAM.
        self.shapes = [stored_shape(p, short_side) for p in paths]
        self.offsets = np.cumsum([0] + [int(np.prod(s)) for s in self.shapes])
        total_mb = self.offsets[-1] / 2**20
        size = int(self.offsets[-1])
        self.storage = spill_array(size) if total_mb > memory_limit_mb else np.empty(size, dtype=np.uint8)
        # PIL releases the GIL while decoding, so threads use every core.
        workers = workers or min(8, os.cpu_count() or 1)
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda i: self._decode_into(i, short_side), range(len(paths))))

    def _decode_into(self, index: int, short_side: int) -> None:
        path, (start, end) = self.samples[index][0], self.offsets[index : index + 2]
        try:
            array = decode(path, short_side)
        except (OSError, SyntaxError, ValueError) as err:  # the file changed after the scan checked it
            raise DatasetError(f"{path} cannot be decoded ({err}); it changed since the scan: re-run.") from err
        if array.shape != self.shapes[index]:
            raise DatasetError(f"{path} decoded to {array.shape}, but its header says {self.shapes[index]}.")
        self.storage[start:end] = array.reshape(-1)

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def spilled(self) -> bool:
        """Whether the images live in a memory-mapped file rather than in RAM."""
        return isinstance(self.storage, np.memmap)

    def image(self, index: int, storage: torch.Tensor | None = None) -> torch.Tensor:
        """The stored uint8 CHW tensor; a view into `storage` (a copy of self.storage, e.g. on a GPU) if given."""
        start, (h, w, c) = int(self.offsets[index]), self.shapes[index]
        if storage is None:
            flat = torch.from_numpy(np.asarray(self.storage[start : start + h * w * c]))
        else:
            flat = storage[start : start + h * w * c]
        return flat.view(h, w, c).permute(2, 0, 1)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.image(index)), self.targets[index]
