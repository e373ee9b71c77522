"""ImageFolder data: train/ and val/ class folders, torchvision v2 transforms, Lightning loaders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torchvision.datasets import ImageFolder

from tl_lightning.data.decoded import DecodedImages
from tl_lightning.data.device_augment import DeviceAugmenter, IndexBatch, Indices, collate_indices
from tl_lightning.data.download import URL, ensure_dataset
from tl_lightning.data.folds import FoldSpec, fold_problems, split_samples
from tl_lightning.data.images import MAX_IMAGE_PIXELS, load_rgb
from tl_lightning.data.sampling import eval_sampler
from tl_lightning.data.scan import check_dataset
from tl_lightning.data.seeding import EpochShuffle, SeededSamples, drop_last, generator, worker_init
from tl_lightning.data.transforms import (
    eval_transform,
    to_normalized_float,
    train_geometry,
    train_transform,
    val_resize_size,
)


class ImageFolderDataModule(L.LightningDataModule):
    """root/train/<class>/* and root/val/<class>/*; downloads the assignment's data if root is empty."""

    def __init__(
        self,
        root: str | Path,
        image_size: int,
        batch_size: int = 4,
        num_workers: int = 2,
        download: bool | str = "auto",
        url: str = URL,
        on_bad_image: str = "error",
        decode_once: bool = True,
        memory_limit_mb: float = 2048,
        eval_batch_size: int | None = None,
        augment_on_device: bool | str = "auto",
        max_image_pixels: int = MAX_IMAGE_PIXELS,
        seed: int = 0,
        folds: int | None = None,
        fold: int = 0,
        split_seed: int = 0,
    ) -> None:
        super().__init__()
        self.root = Path(root)
        self.image_size = image_size
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.download = download
        self.url = url
        self.on_bad_image = on_bad_image
        self.decode_once = decode_once
        # Eval mode makes every image's logits independent of its batch, so val batches can be larger.
        self.eval_batch_size = eval_batch_size or batch_size
        self.memory_limit_mb = memory_limit_mb
        self.max_image_pixels = max_image_pixels
        if augment_on_device not in ("auto", True, False):
            raise ValueError(f"data.augment_on_device must be auto, true or false, not {augment_on_device!r}.")
        self.augment_on_device = augment_on_device
        self.seed = seed  # the train order and the loader workers' seeds come from it (seeding.py)
        # Cross-validation (folds.py): train/ and val/ pooled, fold `fold` validated on; None: the folders' split.
        if problems := fold_problems(folds, fold, split_seed):
            raise ValueError("; ".join(problems) + ".")
        self.split = FoldSpec(folds, fold, split_seed) if folds is not None else None
        self._augmenter: DeviceAugmenter | None = None
        self.train_set: ImageFolder | DecodedImages | None = None
        self.val_set: ImageFolder | DecodedImages | None = None
        self.folder_samples: tuple[list, list] = ([], [])

    def prepare_data(self) -> None:
        ensure_dataset(self.root, download=self.download, url=self.url)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        # Fails here, before any training, on bad files and on a bad layout (e.g. differing class folders).
        side = val_resize_size(self.image_size)  # both pipelines resize the shorter side to it before the crop
        pooled = self.split is not None
        scan = check_dataset(self.root, self.on_bad_image, self.max_image_pixels, resize_side=side, pooled=pooled)
        files = {"loader": load_rgb, "is_valid_file": scan.is_valid}
        train = ImageFolder(self.root / "train", transform=train_transform(self.image_size), **files)
        val = ImageFolder(self.root / "val", transform=eval_transform(self.image_size), **files)
        # The folders' own lists, whatever the fold: the frozen pass runs over them (features/passes.py).
        self.folder_samples = (list(train.samples), list(val.samples))
        if self.split is not None:
            pooled = train.samples + val.samples  # check_dataset made both splits' class folders equal
            split = split_samples(pooled, train.classes, self.root, self.split)
            for folder, samples in zip((train, val), split, strict=True):
                folder.samples = folder.imgs = samples
                folder.targets = [target for _, target in samples]
        if self.decode_once:
            train = DecodedImages(train, side, train.transform, self.memory_limit_mb)
            val = DecodedImages(val, side, val.transform, self.memory_limit_mb)
        self.train_set, self.val_set = train, val

    def relative_path(self, path: str) -> str:
        """An image's path relative to data.root: what identifies it across folds, splits and machines."""
        return Path(path).relative_to(self.root).as_posix()

    @property
    def classes(self) -> list[str]:
        self.setup()
        return list(self.train_set.classes)

    def train_dataloader(self) -> DataLoader:
        # Shuffle: without it every batch of an ImageFolder is one class and SGD steps zig-zag.
        # The order is drawn from (seed, epoch) and each image's crop from (seed, epoch, index), never from the
        # global RNG or a worker's (seeding.py): a resumed run with fresh workers draws what an uninterrupted one drew.
        n = len(self.train_set)
        shuffle = EpochShuffle(n, self.seed, keyed=True)
        shuffle.set_epoch(self._first_epoch())
        if self._train_on_device():
            geometry = train_geometry(self.image_size)
            self._augmenter = DeviceAugmenter(self.train_set, geometry, to_normalized_float(), self.seed)
            # Index batches cost nothing to build: the main process serves them, workers would only add IPC.
            return DataLoader(
                Indices(self.train_set),
                batch_size=self.batch_size,
                sampler=shuffle,
                drop_last=drop_last(n, self.batch_size),
                collate_fn=collate_indices,
                generator=generator(self.seed, "loader"),
            )
        train = SeededSamples(self.train_set, self.seed)
        return self._loader(train, self.batch_size, sampler=shuffle, drop_last=drop_last(n, self.batch_size))

    def _first_epoch(self) -> int:
        """The epoch a new train loader is first iterated in (0, or where a resumed run goes on).

        Lightning creates the loader's iterator before it calls `set_epoch`, and loader workers prefetch
        their first batches right then: a run resumed in epoch k would train epoch k on epoch 0's order.
        """
        loop = getattr(self.trainer, "fit_loop", None)
        return int(loop.epoch_progress.current.processed) if loop is not None else 0

    def _train_on_device(self) -> bool:
        """Whether train batches are augmented on the training device (device_augment.py)."""
        decoded = isinstance(self.train_set, DecodedImages)
        if self.augment_on_device == "auto":
            device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
            # On a CPU the loader workers augment in parallel to training; on a GPU they are the bottleneck.
            return device.type == "cuda" and decoded and not self.train_set.spilled
        if self.augment_on_device and not decoded:
            raise ValueError("data.augment_on_device=true needs data.decode_once=true (images decoded into memory).")
        return bool(self.augment_on_device)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        return self._augmenter(batch) if isinstance(batch, IndexBatch) else batch

    def val_dataloader(self) -> DataLoader:
        # Training shards are Lightning's DistributedSamplerWrapper; evaluation shards must not repeat images.
        return self._loader(self.val_set, self.eval_batch_size, sampler=eval_sampler(self.val_set))

    def test_dataloader(self) -> DataLoader:
        return self.val_dataloader()  # the assignment has no test split; "test" = best checkpoint on val

    def _loader(
        self, dataset: Dataset, batch_size: int, sampler: Sampler | None, drop_last: bool = False
    ) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            drop_last=drop_last,
            generator=generator(self.seed, "loader"),  # the base seed is drawn from it, not from the global RNG
            worker_init_fn=worker_init(self.seed, "loader"),
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
        )
