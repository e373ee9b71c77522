"""The image transforms: torchvision presets-style train augmentation and eval resize + center crop."""

from __future__ import annotations

import torch
from torchvision.transforms import v2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def val_resize_size(image_size: int) -> int:
    """Resize side before the center crop: the 256/224 ratio of torchvision's presets."""
    return round(image_size * 256 / 224)


def train_geometry(image_size: int) -> v2.Compose:
    """The random per-image part of the train transform."""
    return v2.Compose([v2.RandomResizedCrop(image_size, antialias=True), v2.RandomHorizontalFlip()])


def to_normalized_float() -> v2.Compose:
    """uint8 image(s) to ImageNet-normalized floats; pointwise, so it also takes a whole batch."""
    to_float = v2.ToDtype(torch.float32, scale=True)
    return v2.Compose([v2.PILToTensor(), to_float, v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def train_transform(image_size: int) -> v2.Compose:
    return v2.Compose([*train_geometry(image_size).transforms, *to_normalized_float().transforms])


def eval_transform(image_size: int) -> v2.Compose:
    resize = [v2.Resize(val_resize_size(image_size), antialias=True), v2.CenterCrop(image_size)]
    return v2.Compose([*resize, *to_normalized_float().transforms])


def denormalize(images: torch.Tensor) -> torch.Tensor:
    """Normalized NCHW floats back to [0, 1] for display."""
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (images.cpu() * std + mean).clamp(0, 1)
