"""ArchSpec: what the generic code needs to know about one architecture's layout."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ArchSpec:
    head: str  # submodule replaced by a fresh Linear(in_features, num_classes)
    groups: str  # container whose parameterised children are the layer groups ("" = the model)
    default_unfreeze: int  # layer groups `mixed` trains when strategy.unfreeze is null
    min_image_size: int  # smallest input side the forward pass accepts (measured)
    aux_head: str | None = None  # auxiliary classifier, replaced like the head
    aux_min_image_size: int | None = None  # smallest input side while the aux branch trains
    builder_kwargs: tuple[tuple[str, object], ...] = ()
    image_size: int | None = None  # input side of torchvision's weights (discovered archs; the table's set it in conf)
    # The last conv stage, whose activations Grad-CAM weighs (saliency.png); None: the net has none.
    cam_layer: str | None = None
