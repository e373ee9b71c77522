"""Where the frozen part of a network ends, and its activations there: shared by the feature cache (run/)
and the explanation of a run (model/explain/, the run and the explain tool), so both compute the same numbers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from tl_lightning import progress
from tl_lightning.model.freezing import FreezePlan
from tl_lightning.model.frozen_pass import FrozenPass
from tl_lightning.model.spec import ArchSpec


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


class StopAtTap(Exception):
    """Raised by a hook on the cut: nothing after the frozen part runs."""


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
    FrozenPass (model/frozen_pass.py), which also runs the pass channels-last. The cache is stored fp32 NCHW,
    so the trained part sees the same layout and dtype whichever pass filled it.
    """
    captured: list[torch.Tensor] = []

    def hook(_module: nn.Module, args: tuple) -> None:
        captured.append(args[0].detach().float().cpu().contiguous())
        raise StopAtTap

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
                with suppress(StopAtTap), precision():
                    model(prepare(x.to(device, non_blocking=True)))
                labels.append(y)
    finally:
        handle.remove()
        for module, training in modes.items():
            module.training = training
    return torch.cat(captured), torch.cat(labels)


def _same(x: torch.Tensor) -> torch.Tensor:
    return x
