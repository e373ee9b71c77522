"""ArchSpecs for torchvision classification models that the hand-written table does not list.

The layout is read off the model itself: the head is the last nn.Linear in registration order, the
layer groups are the parameterised children of `features` (or of the model), and the input sizes come
from torchvision's weights metadata. So `arch=torchvision arch.name=resnet18` needs no table entry.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import torch
import torch.nn as nn
import torchvision

from tl_lightning.model.spec import ArchSpec

# Models whose forward returns extra logits while training; their aux heads need hand-written handling.
_AUX_MARKERS = ("aux",)


class UnsupportedArchError(ValueError):
    """The named model cannot be adapted generically; the message says why."""


def classification_models() -> list[str]:
    return sorted(torchvision.models.list_models(module=torchvision.models))


@functools.cache
def discover_spec(name: str) -> ArchSpec:
    if name not in classification_models():
        raise UnsupportedArchError(
            f"arch.name={name!r} is not a torchvision classification model: see "
            f"torchvision.models.list_models(module=torchvision.models), e.g. resnet18, mobilenet_v2, efficientnet_b0."
        )
    model = _layout(name)
    aux = [n for n, _ in model.named_modules() if any(m in n.lower() for m in _AUX_MARKERS)]
    if aux:
        raise UnsupportedArchError(
            f"arch.name={name!r} has auxiliary classifiers ({', '.join(aux[:3])}), which need a hand-written "
            f"entry in tl_lightning.model.archs.ARCHS (as inception_v3 has)."
        )
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise UnsupportedArchError(
            f"arch.name={name!r} has no nn.Linear classifier (e.g. squeezenet's conv head), so there is no "
            f"head to replace generically."
        )
    head = linears[-1]
    groups = "features" if _is_group_container(model, "features", head) else ""
    weights = torchvision.models.get_model_weights(name).DEFAULT
    children = list(_parameterised_children(model.get_submodule(groups), groups, head))
    conv = [name for name in children if any(isinstance(m, nn.Conv2d) for m in model.get_submodule(name).modules())]
    num_groups = len(children)
    return ArchSpec(
        head=head,
        groups=groups,
        # Roughly the last sixth of the backbone, 1 to 3 groups (mobilenet_v2: 3 of 19, resnet18: layer4).
        default_unfreeze=min(3, max(1, num_groups // 6)),
        min_image_size=max(int(s) for s in weights.meta.get("min_size", (1, 1))),
        image_size=int(weights.transforms().crop_size[0]),
        # The last layer group holding a convolution (mobilenet_v2: features.18, resnet18: layer4); none: no Grad-CAM.
        cam_layer=conv[-1] if conv else None,
    )


def _layout(name: str) -> nn.Module:
    """The model's module tree; on the meta device (no memory, no init) where its builder allows it."""
    try:
        with torch.device("meta"):
            return torchvision.models.get_model(name, weights=None)
    except NotImplementedError:  # builders that compute sizes from tensors (regnet) need real ones
        return torchvision.models.get_model(name, weights=None)


def _is_group_container(model: nn.Module, path: str, head: str) -> bool:
    container = getattr(model, path, None)
    return isinstance(container, nn.Sequential) and any(True for _ in _parameterised_children(container, path, head))


def _parameterised_children(container: nn.Module, prefix: str, head: str) -> Iterator[str]:
    for name, child in container.named_children():
        qualified = f"{prefix}.{name}" if prefix else name
        if head != qualified and not head.startswith(qualified + ".") and any(True for _ in child.parameters()):
            yield qualified
