"""features.png (the val features before | after training, projected to 2-D) and saliency.png (Grad-CAM)."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import torch
from matplotlib import colormaps

from tl_lightning.data.transforms import denormalize
from tl_lightning.figures import Figure
from tl_lightning.files import atomic_open
from tl_lightning.model.explain.saliency import Saliency

MARKERS = "os^Dv<>P*X"
HEAT_ALPHA = 0.45
DPI = 100
# zlib level 1 rather than Pillow's 6: half the encoding time of a photo grid (0.84 -> 0.42 s for 12 panels at
# 244 px) for 15 % more bytes; the PNG is as lossless either way.
PNG_OPTIONS = {"compress_level": 1}
GAP, PANEL_TITLE, HEADING_LINE = 0.1, 0.45, 0.25  # inches: around panels, a panel's 2-line title, a heading line
CHARS_PER_INCH = 11  # of the 11 pt heading, so that it wraps inside the figure


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
    # Each panel about the image's own pixel size (244 px: 2.5 in at 100 dpi): larger adds no detail, only
    # rendering and encoding time. Panels are placed by hand: constrained layout doubled the drawing time.
    panel = max(2.5, maps[0].image.shape[-1] / DPI)
    width = cols * panel + (cols + 1) * GAP
    heading = textwrap.wrap(title, width=max(20, int(width * CHARS_PER_INCH)))
    top = HEADING_LINE * len(heading) + GAP
    height = top + rows * (panel + PANEL_TITLE) + GAP
    fig = Figure(figsize=(width, height))
    images = denormalize(torch.stack([m.image for m in maps])).clamp(0, 1)
    for k, (m, image) in enumerate(zip(maps, images, strict=True)):
        row, col = divmod(k, cols)
        left = GAP + col * (panel + GAP)
        bottom = height - top - (row + 1) * (panel + PANEL_TITLE)
        ax = fig.add_axes((left / width, bottom / height, panel / width, panel / height))
        ax.axis("off")
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
    fig.suptitle("\n".join(heading), fontsize=11, y=1 - GAP / 2 / height, va="top")
    return fig


def save(fig: Figure, path: Path) -> None:
    """Written whole or not at all, with the user's umask mode, never through a planted link (files.py)."""
    with atomic_open(path, "wb", inside=path.parent) as f:
        fig.savefig(f, dpi=DPI, format="png", pil_kwargs=PNG_OPTIONS)
