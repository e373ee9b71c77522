"""Where the trained net looks: Grad-CAM (captum's LayerGradCam) at the arch's last conv stage.

The layer is the arch table's or discovery's `cam_layer` (model/spec.py), never chosen here. The images are
fixed by the data, so every run of a sweep shows the same ones: the first few val images of each class in
path order, then this run's mistakes (bounded).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from tl_lightning.model.module import TransferLearningModule


class NoCamLayer(ValueError):
    """The net has no conv stage Grad-CAM can weigh; the message says which model."""


@dataclass
class Saliency:
    index: int  # val index
    image: torch.Tensor  # the network's input, C x H x W (normalised)
    heat: torch.Tensor  # H x W, in [0, 1]
    pred: int
    target: int
    prob: float


def fixed_images(targets: list[int], preds: list[int], per_class: int, mistakes: int) -> list[int]:
    """The first `per_class` val indices of each class (val order = path order), then up to `mistakes` more
    that the model gets wrong, in val order."""
    chosen: list[int] = []
    for c in sorted(set(targets)):
        chosen += [i for i, t in enumerate(targets) if t == c][:per_class]
    wrong = [i for i, (p, t) in enumerate(zip(preds, targets, strict=True)) if p != t and i not in chosen]
    return chosen + wrong[:mistakes]


def cam_layer(module: TransferLearningModule) -> nn.Module:
    name = module.spec.cam_layer
    if not name:
        raise NoCamLayer(f"no conv stage was found in {module.hparams.arch} (its ArchSpec has no cam_layer)")
    try:
        return module.model.get_submodule(name)
    except AttributeError as err:
        raise NoCamLayer(f"{module.hparams.arch} has no module {name!r} (its cam_layer)") from err


def grad_cam(module: TransferLearningModule, images: torch.Tensor, batch_size: int = 8) -> list[Saliency]:
    """Grad-CAM of the predicted class for each image, upsampled to the image's size and scaled to [0, 1]
    per image (the picture shows where, not how much across images)."""
    layer = cam_layer(module)
    was, tail = module.training, module.__dict__.get("_tail")
    module.use_cached_inputs(None)  # a run that trained on cached activations: Grad-CAM needs the images' path
    module.eval()
    device = next(module.parameters()).device
    from captum.attr import LayerAttribution, LayerGradCam  # loads only where a run explains itself

    cam = LayerGradCam(module, layer)
    out: list[Saliency] = []
    try:
        for start in range(0, len(images), batch_size):
            x = images[start : start + batch_size].to(device)
            with torch.no_grad():
                probs = module(x).float().softmax(dim=1)
            conf, pred = probs.max(dim=1)
            heat = cam.attribute(x, target=pred, relu_attributions=True).detach()
            heat = LayerAttribution.interpolate(heat, tuple(x.shape[-2:]), "bilinear")[:, 0].float().cpu()
            for i in range(len(x)):
                out.append(Saliency(start + i, x[i].cpu(), _unit(heat[i]), int(pred[i]), -1, float(conf[i])))
    finally:
        module.train(was)
        module.use_cached_inputs(tail)
    return out


def _unit(heat: torch.Tensor) -> torch.Tensor:
    heat = torch.nan_to_num(heat, nan=0.0)
    top = float(heat.max())
    return heat / top if top > 0 else heat
