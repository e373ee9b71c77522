"""The features the head reads (the input of the replaced head), for the model as loaded and as trained.

Two stages, the same in the run and in the explain tool so both give identical numbers: the input of the
network's frozen part's end (model/cut.py; the run reuses its feature cache for it), then the rest of each
model from there, captured at the head. The model "before" training is the trained one with every module that
trained reset to its state at build time (the configured weights, or the seeded random init).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset

from tl_lightning.data import ImageFolderDataModule
from tl_lightning.data.transforms import eval_transform
from tl_lightning.model.cut import Cut, StopAtTap, capture_inputs, find_cut
from tl_lightning.model.frozen_pass import FrozenPass, replay
from tl_lightning.model.module import TransferLearningModule


@dataclass
class Split:
    x: torch.Tensor  # images or the frozen part's output, one row per sample, in dataset order
    y: torch.Tensor


@dataclass
class Features:
    train: torch.Tensor
    train_y: torch.Tensor
    val: torch.Tensor
    val_y: torch.Tensor


def plain_sets(images: ImageFolderDataModule) -> tuple[Dataset, Dataset]:
    """The train set in its un-augmented eval view (as the feature cache's `plain` regime) and the val set."""
    images.setup()
    plain = copy.copy(images.train_set)
    plain.transform = eval_transform(images.image_size)
    return plain, images.val_set


def loader(dataset: Dataset, batch_size: int, num_workers: int = 0) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, num_workers=num_workers)  # in order, no randomness


def stage_one(
    model: nn.Module, cut: Cut | None, data: DataLoader, device: torch.device, frozen: FrozenPass | None = None
) -> Split:
    """What the second stage starts from: the input of `cut.tap` (computed as the run's feature cache was,
    `frozen`), or the images where there is no cut."""
    if cut is not None:
        return Split(*capture_inputs(model, cut.tap, data, device, frozen or replay(None, device.type)))
    xs, ys = zip(*data, strict=True) if len(data) else ((), ())
    return Split(torch.cat(xs), torch.cat(ys))


@torch.no_grad()
def head_inputs(
    net: Callable[[torch.Tensor], object], head: nn.Module, x: torch.Tensor, batch_size: int, device: torch.device
) -> torch.Tensor:
    """The input of `head` when `net` runs on `x` in batches; nothing after the head runs."""
    captured: list[torch.Tensor] = []

    def hook(_module: nn.Module, args: tuple) -> None:
        captured.append(args[0].detach().float().flatten(1).cpu())
        raise StopAtTap

    handle = head.register_forward_pre_hook(hook)
    try:
        for start in range(0, len(x), batch_size):
            with suppress(StopAtTap):
                net(x[start : start + batch_size].to(device))
    finally:
        handle.remove()
    return torch.cat(captured) if captured else torch.empty(0)


def model_features(
    model: nn.Module, module: TransferLearningModule, cut: Cut | None, train: Split, val: Split, batch: int
) -> Features:
    """`model` (the trained net or its before-twin) from the stage-one inputs to its head's input."""
    was = {m: m.training for m in model.modules()}
    model.eval()
    device = next(model.parameters()).device
    net = cut.tail if cut is not None else model
    head = model.get_submodule(module.spec.head)
    try:
        return Features(
            head_inputs(net, head, train.x, batch, device), train.y, head_inputs(net, head, val.x, batch, device), val.y
        )
    finally:
        for m, training in was.items():
            m.training = training


def before_model(module: TransferLearningModule, weights: str | None, seed: int) -> nn.Module:
    """A copy of the trained net whose trained modules hold their build-time state again: the configured
    `weights` where they cover them, else the random init drawn from `seed` (the frozen rest is the trained
    net's own, identical by construction)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fresh = TransferLearningModule(**{**dict(module.hparams), "weights": weights}).model.state_dict()
    model = copy.deepcopy(module.model)
    trained = {name for name, m in model.named_modules() if any(p.requires_grad for p in m.parameters(recurse=False))}
    state = model.state_dict()
    for key in state:
        if key.rpartition(".")[0] in trained and key in fresh:
            state[key] = fresh[key]
    model.load_state_dict(state)
    return model


def cut_for(module: TransferLearningModule, model: nn.Module | None = None) -> Cut | None:
    """Where the frozen part of the trained net ends (None: every layer trained, or no exact cut)."""
    cut = find_cut(model if model is not None else module.model, module.spec, module.plan)
    return cut if isinstance(cut, Cut) else None
