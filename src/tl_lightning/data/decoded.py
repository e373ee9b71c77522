"""Decode every image once into uint8 tensors; augment on tensors after that.

The PIL pipeline re-decodes every JPEG every epoch. Here each image is decoded once and stored with its
shorter side resized (by PIL, exactly as the eval pipeline's first step) to the eval resize size, so the
eval view is bit-identical to the PIL pipeline and train crops come from the same picture.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.datasets import ImageFolder
from torchvision.transforms import v2

from tl_lightning.data.cache import cache_dir
from tl_lightning.data.images import load_rgb


def decode(path: str, short_side: int) -> np.ndarray:
    """RGB uint8 HWC, shorter side resized to `short_side` exactly as the eval pipeline's first step."""
    return np.asarray(v2.Resize(short_side, antialias=True)(load_rgb(path)))


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
        # PIL releases the GIL while decoding, so threads use every core.
        workers = workers or min(8, os.cpu_count() or 1)
        with ThreadPoolExecutor(workers) as pool:
            arrays = list(pool.map(lambda p: decode(p, short_side), paths))
        self.shapes = [a.shape for a in arrays]
        self.offsets = np.cumsum([0] + [a.size for a in arrays])
        total_mb = self.offsets[-1] / 2**20
        self.storage = self._allocate(paths, short_side, int(self.offsets[-1]), total_mb > memory_limit_mb)
        for a, start in zip(arrays, self.offsets[:-1], strict=True):
            self.storage[start : start + a.size] = a.reshape(-1)

    @staticmethod
    def _allocate(paths: list[str], short_side: int, size: int, spill: bool) -> np.ndarray:
        if not spill:
            return np.empty(size, dtype=np.uint8)
        key = hashlib.sha256(f"{short_side}\0{chr(0).join(paths)}".encode()).hexdigest()[:16]
        path = cache_dir() / f"decoded-{key}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        return np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(size,))

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
