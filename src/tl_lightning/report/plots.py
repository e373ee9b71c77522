"""Report figures: overlaid loss curves, per-run confusion matrices and misclassified val images."""

from __future__ import annotations

import math
import os
import textwrap
from pathlib import Path
from typing import IO

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PIL import Image, ImageDraw

from tl_lightning.files import atomic_write, is_regular
from tl_lightning.report.groups import Cell

THUMB = 128  # px per misclassified thumbnail


def mean_curve(cell: Cell, key: str) -> list[float]:
    """Per-epoch mean over seeds, cut to the shortest run so every point averages all seeds."""
    curves = [r.metrics[key] for r in cell.runs if r.metrics.get(key)]
    if not curves:
        return []
    length = min(len(c) for c in curves)
    return [float(np.mean([c[i] for c in curves])) for i in range(length)]


def overlaid_curves(cells: list[Cell], title: str, label: str) -> Figure:
    """Train (solid) and val (dashed) loss of several cells on one axis; `label` names each cell."""
    fig = Figure(figsize=(7, 4.5))  # no pyplot: no GUI backend, works headless
    ax = fig.subplots()
    for i, cell in enumerate(cells):
        color = f"C{i}"
        name = getattr(cell, label)
        seeds = f" (mean of {len(cell.runs)} seeds)" if len(cell.runs) > 1 else ""
        for split, style in (("train", "-"), ("val", "--")):
            values = mean_curve(cell, f"{split}_loss")
            ax.plot(range(1, len(values) + 1), values, style, color=color, label=f"{name} {split}{seeds}")
    ax.set(xlabel="epoch", ylabel="cross-entropy", title=title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def confusion_counts(rows: list[dict]) -> tuple[list[str], list[list[int]]]:
    """Class names in val order and counts[true][pred] from a val_predictions*.csv's rows."""
    classes: list[str] = []
    for row in rows:
        for name in (row["true"], row["pred"]):
            if name not in classes:
                classes.append(name)
    index = {c: i for i, c in enumerate(classes)}
    counts = [[0] * len(classes) for _ in classes]
    for row in rows:
        counts[index[row["true"]]][index[row["pred"]]] += 1
    return classes, counts


def confusion_figure(rows: list[dict], title: str) -> Figure:
    classes, counts = confusion_counts(rows)
    fig = Figure(figsize=(3.6, 3.2))
    ax = fig.subplots()
    ax.imshow(np.array(counts), cmap="Blues")
    for i, row in enumerate(counts):
        for j, value in enumerate(row):
            ax.text(j, i, str(value), ha="center", va="center", color="black" if i != j else "white")
    ax.set(xticks=range(len(classes)), yticks=range(len(classes)), xlabel="predicted", ylabel="true")
    ax.set_xticklabels(classes)
    ax.set_yticklabels(classes)
    ax.set_title(textwrap.fill(title, 44), fontsize=9)  # a title naming varied settings outgrows the figure
    fig.tight_layout()
    return fig


def misclassified_grid(
    rows: list[dict], title: str, limit: int, root: Path | None, cols: int = 4
) -> Image.Image | None:
    """Up to `limit` wrong val images captioned true / predicted (prob); None when none is wrong. Only images under
    `root`/val (the run's data root) are drawn: a CSV row may name any file on disk, which the report must not show.

    Composed with PIL rather than matplotlib subplots: one image per run, ~50x faster to lay out.
    """
    wrong = [row for row in rows if row["true"] != row["pred"]]
    if not wrong:
        return None
    shown = wrong[:limit]
    lines = math.ceil(len(shown) / cols)
    cell_w, cell_h, header = THUMB + 24, THUMB + 44, 20
    grid = Image.new("RGB", (cols * cell_w, header + lines * cell_h), "white")
    draw = ImageDraw.Draw(grid)
    more = f" (first {limit} of {len(wrong)})" if len(wrong) > limit else ""
    draw.text((4, 4), f"{title}: misclassified val images{more}", fill="black")
    for i, row in enumerate(shown):
        x, y = (i % cols) * cell_w + 12, header + (i // cols) * cell_h
        path = Path(row["path"])
        inside = root is not None and _under(path, root / "val")  # val images only, whatever the CSV says
        thumb = _thumbnail(path) if inside else None
        if thumb is None:
            draw.rectangle((x, y, x + THUMB, y + THUMB), outline="gray")
            why = "image not found" if inside else "not in data root/val" if root else "data root unrecorded"
            draw.text((x + 8, y + THUMB // 2), why, fill="gray")
        else:
            grid.paste(thumb, (x, y))
        caption = f"{Path(row['path']).name[:22]}\ntrue {row['true']}, pred {row['pred']} ({float(row['prob']):.2f})"
        draw.multiline_text((x, y + THUMB + 4), caption, fill="red")
    return grid


def _under(path: Path, root: Path) -> bool:
    """`path` is inside `root` once links and `..` are resolved (a link inside the root to a file outside is not)."""
    real, top = os.path.realpath(path), os.path.realpath(root)
    return real != top and os.path.commonpath([real, top]) == top


def _thumbnail(path: Path) -> Image.Image | None:
    if not is_regular(path):  # a CSV's path may name anything; devices and FIFOs would block the report
        return None
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail((THUMB, THUMB))
            return image
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def save(fig: Figure | Image.Image, path: Path) -> None:
    """The figure as a PNG, written atomically (files.atomic_write; the caller has refused a linked folder)."""
    atomic_write(path, lambda f: _write_png(fig, f))


def _write_png(fig: Figure | Image.Image, f: IO[bytes]) -> None:
    if isinstance(fig, Image.Image):
        fig.save(f, format="png")
        return
    fig.savefig(f, dpi=90, format="png")
