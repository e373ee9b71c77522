"""Per-architecture knowledge: the one table that knows how each torchvision net is laid out.

Everything else (head replacement, freezing, the aux loss) is generic and reads this table.
"""

from __future__ import annotations

import dataclasses

import torch.nn as nn
import torchvision

from tl_lightning.model.discover import discover_spec
from tl_lightning.model.spec import ArchSpec

ARCHS: dict[str, ArchSpec] = {
    # 5 conv layers; mixed trains conv4 + conv5; Grad-CAM (cam_layer) weighs conv5's maps.
    "alexnet": ArchSpec(
        head="classifier", groups="features", default_unfreeze=2, min_image_size=63, cam_layer="features.10"
    ),
    # 13 conv layers; mixed trains the last block (conv5_1..conv5_3).
    "vgg16": ArchSpec(
        head="classifier", groups="features", default_unfreeze=3, min_image_size=32, cam_layer="features.28"
    ),
    # 16 blocks (5 stem convs, Mixed_5b..Mixed_7c); mixed trains the 8x8 stage Mixed_7a..7c.
    # The aux branch's 5x5 conv needs a 17x17 Mixed_6e map, i.e. a 299 px input.
    "inception_v3": ArchSpec(
        head="fc",
        groups="",
        default_unfreeze=3,
        min_image_size=75,
        aux_head="AuxLogits.fc",
        aux_min_image_size=299,
        # transform_input: torchvision's ImageNet weights expect it; it is a fixed affine map.
        builder_kwargs=(("aux_logits", True), ("transform_input", True), ("init_weights", True)),
        cam_layer="Mixed_7c",  # the 8x8 stage's last block
    ),
}


def get_spec(arch: str) -> ArchSpec:
    """The table's entry, else one discovered from the torchvision model of that name."""
    if arch in ARCHS:
        return ARCHS[arch]
    return discover_spec(arch)


def build_backbone(arch: str) -> nn.Module:
    """The torchvision model with its ImageNet head, randomly initialised."""
    spec = get_spec(arch)
    return torchvision.models.get_model(arch, weights=None, **dict(spec.builder_kwargs))


HEAD_MODES = ("classifier", "last_linear")


def with_head(model: nn.Module, spec: ArchSpec, mode: str) -> ArchSpec:
    """The spec whose `head` is what arch.head replaces: the table's head module whole (`classifier`), or
    only the last nn.Linear inside it (`last_linear`: AlexNet/VGG16 keep fc6, fc7 and their dropout).

    Where the table's head is itself one Linear (Inception-v3's fc, discovered archs) both are the same.
    """
    if mode not in HEAD_MODES:
        raise ValueError(f"arch.head={mode!r} is unknown: use one of {', '.join(HEAD_MODES)}.")
    head = model.get_submodule(spec.head)
    if mode == "classifier" or isinstance(head, nn.Linear):
        return spec
    last = [name for name, m in head.named_modules() if isinstance(m, nn.Linear)][-1]
    return dataclasses.replace(spec, head=f"{spec.head}.{last}")


def replace_linear(model: nn.Module, path: str, num_classes: int) -> nn.Linear:
    """Swap the submodule at `path` for a new Linear whose in_features is read from the old one."""
    old = model.get_submodule(path)
    first_linear = next(m for m in old.modules() if isinstance(m, nn.Linear))
    new = nn.Linear(first_linear.in_features, num_classes)
    parent_path, _, name = path.rpartition(".")
    setattr(model.get_submodule(parent_path), name, new)
    return new


def layer_groups(model: nn.Module, spec: ArchSpec) -> list[tuple[str, nn.Module]]:
    """The backbone's layer groups in forward order, as (qualified name, module)."""
    container = model.get_submodule(spec.groups)
    prefix = f"{spec.groups}." if spec.groups else ""
    heads = [p for p in (spec.head, spec.aux_head) if p]
    groups = []
    for name, child in container.named_children():
        qualified = prefix + name
        holds_head = any(h == qualified or h.startswith(qualified + ".") for h in heads)
        if not holds_head and any(True for _ in child.parameters()):
            groups.append((qualified, child))
    return groups


def aux_branch(spec: ArchSpec) -> str | None:
    """The top-level module that computes the aux logits (e.g. `AuxLogits`)."""
    return spec.aux_head.split(".")[0] if spec.aux_head else None


def aux_tap(model: nn.Module, spec: ArchSpec) -> str:
    """The layer group whose output feeds the aux branch: the group registered just before it."""
    branch = aux_branch(spec)
    names = [name for name, _ in model.named_children()]
    group_names = {name for name, _ in layer_groups(model, spec)}
    before = [n for n in names[: names.index(branch)] if n in group_names]
    return before[-1]
