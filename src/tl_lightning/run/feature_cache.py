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

import copy
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass

import lightning as L
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset

from tl_lightning import progress
from tl_lightning.data import ImageFolderDataModule
from tl_lightning.data.sampling import eval_sampler
from tl_lightning.data.seeding import EpochShuffle, drop_last, generator, stream_seed, worker_init
from tl_lightning.data.transforms import eval_transform
from tl_lightning.model.freezing import FreezePlan
from tl_lightning.model.spec import ArchSpec
from tl_lightning.run.frozen_pass import FrozenPass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Cut:
    tap: str  # the module whose input is cached
    tail: Callable[[torch.Tensor], torch.Tensor]  # the network from that module on


def find_cut(model: nn.Module, spec: ArchSpec, plan: FreezePlan) -> Cut | str:
    """Where to cut the network for an exact cache, or why there is no such place."""
    if plan.unfreeze == 0:
        return Cut(spec.head, model.get_submodule(spec.head))
    if plan.unfreeze == plan.num_groups:
        return "every layer trains, so there is no frozen part to cache"
    container = model.get_submodule(spec.groups) if spec.groups else model
    if not spec.groups or not isinstance(container, nn.Sequential):
        return f"the layer groups of {type(model).__name__} are not one nn.Sequential, so no exact cut exists"
    names = [name for name, _ in container.named_children()]
    trainable = [i for i, m in enumerate(container) if any(p.requires_grad for p in m.parameters())]
    first = trainable[0]
    rest = nn.Sequential(*list(container)[first:])

    def tail(x: torch.Tensor) -> torch.Tensor:
        with _swapped(model, spec.groups, rest):
            return model(x)

    return Cut(f"{spec.groups}.{names[first]}", tail)


@contextmanager
def _swapped(model: nn.Module, path: str, replacement: nn.Module) -> Iterator[None]:
    parent_path, _, name = path.rpartition(".")
    parent = model.get_submodule(parent_path)
    original = getattr(parent, name)
    # `replacement` shares the original's layers, so parameters, modes and devices stay one set.
    setattr(parent, name, replacement)
    try:
        yield
    finally:
        setattr(parent, name, original)


class _Stop(Exception):
    pass


@torch.no_grad()
def capture_inputs(
    model: nn.Module,
    tap: str,
    loader: DataLoader,
    device: torch.device,
    precision: Callable[[], AbstractContextManager] = nullcontext,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The input of module `tap` for every sample, with the network in eval mode; nothing after it runs.

    `precision` is the pass's number format: the trainer's forward context (e.g. bf16 autocast), or a
    FrozenPass (run/frozen_pass.py), which also runs the pass channels-last. The cache is stored fp32 NCHW,
    so the trained part sees the same layout and dtype whichever pass filled it.
    """
    captured: list[torch.Tensor] = []

    def hook(_module: nn.Module, args: tuple) -> None:
        captured.append(args[0].detach().float().cpu().contiguous())
        raise _Stop

    # Restored module by module: a blanket model.train() would un-freeze the frozen modules' eval mode.
    modes = {module: module.training for module in model.modules()}
    model.eval()
    handle = model.get_submodule(tap).register_forward_pre_hook(hook)
    labels = []
    layout = precision.layout(model) if isinstance(precision, FrozenPass) else nullcontext()
    prepare = precision.prepare if isinstance(precision, FrozenPass) else _same
    try:
        # Says what the user waits for (the frozen layers, once, over the images), and stays as a timed line.
        label = f"Frozen layers: one pass over {len(loader.dataset)} images"
        with layout:
            for x, y in progress.bar(loader, label, unit="batch", leave=True):
                with suppress(_Stop), precision():
                    model(prepare(x.to(device, non_blocking=True)))
                labels.append(y)
    finally:
        handle.remove()
        for module, training in modes.items():
            module.training = training
    return torch.cat(captured), torch.cat(labels)


def _same(x: torch.Tensor) -> torch.Tensor:
    return x


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
    precision: Callable[[], AbstractContextManager] = nullcontext,
) -> CachedDataModule:
    """Cache the input of `cut.tap` for the train views (None: the plain eval view; K: K augmented views)
    and the val set."""
    model.to(device)
    plain = copy.copy(images.train_set)
    plain.transform = eval_transform(images.image_size)
    sources = [plain] if views is None else [images.train_set] * views
    # The augmented views come from their own seeded stream; the global RNG is left as it was.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(stream_seed(images.seed, "cache_pass"))
        train = [
            capture_inputs(model, cut.tap, _pass_loader(ds, batch_size, images, view), device, precision)
            for view, ds in enumerate(sources)
        ]
    val_loader = _pass_loader(images.val_set, batch_size, images, len(sources))
    val_x, val_y = capture_inputs(model, cut.tap, val_loader, device, precision)
    train_views = torch.stack([x for x, _ in train])
    log.info("Cached %s input: train %s, val %s", cut.tap, tuple(train_views.shape), tuple(val_x.shape))
    return CachedDataModule(
        CachedViews(train_views, train[0][1]),
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
