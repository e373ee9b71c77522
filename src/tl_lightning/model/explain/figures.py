"""features.png (the val features before | after training, projected to 2-D) and saliency.png (Grad-CAM)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure

from tl_lightning.data.transforms import denormalize
from tl_lightning.files import atomic_open
from tl_lightning.model.explain.saliency import Saliency

MARKERS = "os^Dv<>P*X"
HEAT_ALPHA = 0.45


def feature_figure(
    panels: list[tuple[str, np.ndarray, dict]],
    val_y: list[int],
    wrong: list[bool],
    class_names: list[str],
    title: str,
    mistake_label: str = "mistake",
) -> Figure:
    """One scatter per (label, 2-D coordinates, separability numbers): coloured by class, mistakes ringed red
    (the same images in every panel: the trained net's mistakes, so a reader sees where they sat before)."""
    fig = Figure(figsize=(5.5 * len(panels), 5.2), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    y, wrong_mask = np.asarray(val_y), np.asarray(wrong, dtype=bool)
    for ax, (label, xy, numbers) in zip(axes, panels, strict=True):
        for c, name in enumerate(class_names):
            at = y == c
            ax.scatter(xy[at, 0], xy[at, 1], s=22, marker=MARKERS[c % len(MARKERS)], alpha=0.75, label=name)
        if wrong_mask.any():
            ax.scatter(
                *xy[wrong_mask].T, s=90, facecolors="none", edgecolors="red", linewidths=1.4, label=mistake_label
            )
        ax.set_title(f"{label}\n{_numbers(numbers)}", fontsize=10)
        ax.set(xticks=[], yticks=[])
        ax.legend(fontsize=8, loc="best")
    fig.suptitle(title, fontsize=11)
    return fig


def _numbers(numbers: dict) -> str:
    def fmt(key: str) -> str:
        value = numbers.get(key)
        return "n/a" if value is None else f"{value:.3f}"

    return f"k-NN acc {fmt('knn_acc')}, probe acc {fmt('probe_acc')}, silhouette {fmt('silhouette')}"


def saliency_figure(maps: list[Saliency], class_names: list[str], title: str) -> Figure:
    """Each image with its Grad-CAM over it, titled pred / true / probability; mistakes in red."""
    cols = min(4, len(maps))
    rows = math.ceil(len(maps) / cols)
    fig = Figure(figsize=(3 * cols, 3.3 * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    images = denormalize(torch.stack([m.image for m in maps])).clamp(0, 1)
    for ax, m, image in zip(axes.flat, maps, images, strict=False):
        # Blended here, one image per panel: two alpha-composited imshows per panel double the rendering time.
        heat = colormaps["jet"](m.heat.numpy())[..., :3]
        blend = (1 - HEAT_ALPHA) * image.permute(1, 2, 0).numpy() + HEAT_ALPHA * heat
        ax.imshow(np.clip(blend, 0, 1))  # float rounding can put a white pixel at 1 + 1e-8: a warning per panel
        wrong = m.pred != m.target
        ax.set_title(
            f"pred: {class_names[m.pred]} ({m.prob:.2f})\ntrue: {class_names[m.target]}" + ("  ✗" if wrong else ""),
            color="red" if wrong else "black",
            fontsize=9,
        )
    fig.suptitle(title, fontsize=11)
    return fig


def save(fig: Figure, path: Path) -> None:
    """Written whole or not at all, with the user's umask mode, never through a planted link (files.py)."""
    with atomic_open(path, "wb", inside=path.parent) as f:
        fig.savefig(f, dpi=100, format="png")
