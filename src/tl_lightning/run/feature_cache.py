"""Run the frozen part of the network once, then train on its cached outputs.

The assignment's method 2: for `extractor` the frozen backbone's features (the head's input) are
computed once for train and val and the head trains on them for every epoch. For `mixed` the same is
done at the first trainable layer group, where the groups form one nn.Sequential (AlexNet, VGG16).
Both are exact: the frozen part runs in eval mode and holds no random op, so a cached activation equals
what the full network computes (the train views are fixed: K augmented views, or the plain eval view).
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
from tl_lightning.data.transforms import eval_transform
from tl_lightning.model.freezing import FreezePlan
from tl_lightning.model.spec import ArchSpec

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

    `precision` is the training's forward context (e.g. bf16 autocast): the cache must hold what the
    frozen part computes during training, and mixed precision makes the pass faster too.
    """
    captured: list[torch.Tensor] = []

    def hook(_module: nn.Module, args: tuple) -> None:
        captured.append(args[0].detach().float().cpu())
        raise _Stop

    # Restored module by module: a blanket model.train() would un-freeze the frozen modules' eval mode.
    modes = {module: module.training for module in model.modules()}
    model.eval()
    handle = model.get_submodule(tap).register_forward_pre_hook(hook)
    labels = []
    try:
        # Says what the user waits for (the frozen layers, once, over the images), and stays as a timed line.
        label = f"Frozen layers: one pass over {len(loader.dataset)} images"
        for x, y in progress.bar(loader, label, unit="batch", leave=True):
            with suppress(_Stop), precision():
                model(x.to(device, non_blocking=True))
            labels.append(y)
    finally:
        handle.remove()
        for module, training in modes.items():
            module.training = training
    return torch.cat(captured), torch.cat(labels)


class CachedViews(Dataset):
    """Cached activations [views, N, ...]; each access draws one of the views."""

    def __init__(self, views: torch.Tensor, labels: torch.Tensor) -> None:
        self.views, self.labels = views, labels

    def __len__(self) -> int:
        return self.views.shape[1]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        view = int(torch.randint(self.views.shape[0], ())) if self.views.shape[0] > 1 else 0
        return self.views[view, index], self.labels[index]


class CachedDataModule(L.LightningDataModule):
    """Loaders over cached activations, standing in for the image datamodule during fit and test."""

    def __init__(self, train: CachedViews, val: CachedViews, batch_size: int, eval_batch_size: int) -> None:
        super().__init__()
        self.train, self.val = train, val
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train, batch_size=self.batch_size, shuffle=True, pin_memory=torch.cuda.is_available())

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
    views: int,
    batch_size: int,
    device: torch.device,
    precision: Callable[[], AbstractContextManager] = nullcontext,
) -> CachedDataModule:
    """Cache the input of `cut.tap` for `views` train views (1 = the plain eval view) and the val set."""
    model.to(device)
    plain = copy.copy(images.train_set)
    plain.transform = eval_transform(images.image_size)
    sources = [plain] if views == 1 else [images.train_set] * views
    loader = lambda ds: DataLoader(ds, batch_size=batch_size, num_workers=images.num_workers)  # noqa: E731
    train = [capture_inputs(model, cut.tap, loader(ds), device, precision) for ds in sources]
    val_x, val_y = capture_inputs(model, cut.tap, loader(images.val_set), device, precision)
    train_views = torch.stack([x for x, _ in train])
    log.info("Cached %s input: train %s, val %s", cut.tap, tuple(train_views.shape), tuple(val_x.shape))
    return CachedDataModule(
        CachedViews(train_views, train[0][1]),
        CachedViews(val_x[None], val_y),
        images.batch_size,
        images.eval_batch_size,
    )
