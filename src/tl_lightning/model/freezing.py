"""Which parameters train under a strategy, and keeping the frozen rest in eval mode."""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from tl_lightning.model.archs import aux_branch, aux_tap, layer_groups
from tl_lightning.model.spec import ArchSpec


@dataclass(frozen=True)
class FreezePlan:
    unfreeze: int  # trainable layer groups, counted from the end
    num_groups: int
    frozen: tuple[str, ...]  # modules held in eval mode for the whole fit
    aux_trains: bool


def resolve_unfreeze(unfreeze: int | str | None, spec: ArchSpec, num_groups: int) -> int:
    """`all` -> every group, None -> the arch's default, else an int in [0, num_groups]."""
    if unfreeze is None:
        return spec.default_unfreeze
    if str(unfreeze).lower() == "all":
        return num_groups
    try:
        k = int(unfreeze)
    except (TypeError, ValueError):
        k = -1
    if not 0 <= k <= num_groups or str(k) != str(unfreeze).strip():
        raise ValueError(
            f"strategy.unfreeze={unfreeze!r} is out of range: this arch has {num_groups} layer groups, "
            f"so use an integer 0..{num_groups}, 'all', or null for the default ({spec.default_unfreeze})."
        )
    return k


def apply_freeze(model: nn.Module, spec: ArchSpec, unfreeze: int | str | None) -> FreezePlan:
    """Set requires_grad for the strategy and put frozen modules in eval mode.

    Trainable: the head, the last k layer groups, and the aux branch when the group it taps
    trains (otherwise its gradient could not reach anything that trains, so it is removed).
    With k = 0 everything but the head is frozen, dropout and pooling included, so the
    head sees exactly the features a one-off pass of the frozen net would give.
    """
    groups = layer_groups(model, spec)
    k = resolve_unfreeze(unfreeze, spec, len(groups))
    branch = aux_branch(spec)
    aux_trains = branch is not None and k > 0 and aux_tap(model, spec) in {n for n, _ in groups[len(groups) - k :]}
    if branch is not None and not aux_trains:
        setattr(model, branch, None)
        model.aux_logits = False  # torchvision then returns plain logits in training too

    if k == len(groups):
        model.requires_grad_(True)
        return FreezePlan(k, len(groups), (), aux_trains)

    model.requires_grad_(False)
    trainable = [spec.head] + [name for name, _ in groups[len(groups) - k :]] + ([branch] if aux_trains else [])
    for name in trainable:
        model.get_submodule(name).requires_grad_(True)
    frozen = outside_path(model, spec.head) if k == 0 else tuple(name for name, _ in groups[: len(groups) - k])
    set_eval(model, frozen)
    return FreezePlan(k, len(groups), frozen, aux_trains)


def outside_path(model: nn.Module, path: str) -> tuple[str, ...]:
    """Every module beside `path` at each level of it: for `classifier.1` the other top-level children
    and `classifier.0` (a dropout before the head, which must not drop the cached features' twins)."""
    names, prefix, parent = [], "", model
    for part in path.split("."):
        names += [prefix + name for name, _ in parent.named_children() if name != part]
        prefix, parent = f"{prefix}{part}.", parent.get_submodule(part)
    return tuple(names)


def set_eval(model: nn.Module, names: tuple[str, ...]) -> None:
    for name in names:
        model.get_submodule(name).eval()
