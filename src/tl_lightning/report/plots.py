"""Report figures: overlaid loss curves, per-run confusion matrices and misclassified val images."""

from __future__ import annotations

import math
import os
import textwrap
from pathlib import Path
from typing import IO

import numpy as np
from matplotlib.ticker import MaxNLocator
from PIL import Image, ImageDraw, ImageFont, ImageOps

from tl_lightning.figures import Figure, distinct_labels
from tl_lightning.files import atomic_write, is_regular
from tl_lightning.report.groups import Cell

THUMB = 160  # px per misclassified thumbnail
FONT_PX = 15  # captions stay readable when the report shows the grid scaled down
PAD = 8


def mean_curve(cell: Cell, key: str) -> list[float]:
    """Per-epoch mean over seeds, cut to the shortest run so every point averages all seeds."""
    curves = [r.metrics[key] for r in cell.runs if r.metrics.get(key)]
    if not curves:
        return []
    length = min(len(c) for c in curves)
    return [float(np.mean([c[i] for c in curves])) for i in range(length)]


def overlaid_curves(cells: list[Cell], title: str, label: str) -> Figure:
    """Train (solid) and val (dashed) loss of several cells on one axis; `label` names each cell."""
    fig = Figure(figsize=(10, 5), layout="constrained")  # no pyplot: no GUI backend, works headless
    ax = fig.subplots()
    for i, cell in enumerate(cells):
        color = f"C{i}"
        name = getattr(cell, label)
        seeds = f" (mean of {len(cell.runs)} seeds)" if len(cell.runs) > 1 else ""
        for split, style in (("train", "-"), ("val", "--")):
            values = mean_curve(cell, f"{split}_loss")
            ax.plot(range(1, len(values) + 1), values, style, color=color, label=f"{name} {split}{seeds}")
    ax.set_xlabel("epoch", fontsize=12)
    ax.set_ylabel("cross-entropy", fontsize=12)
    ax.set_title(title, fontsize=13)
    ax.tick_params(labelsize=11)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    # Beside the axes, at a size readable in the report: up to 18 entries would cover the curves inside.
    ax.legend(fontsize=11, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
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
    labels = distinct_labels(classes)  # NFC/NFD twins are two classes: say so, as fonts draw them alike
    ax.set_xticklabels(labels)
    ax.set_yticklabels(labels)
    ax.set_title(textwrap.fill(title, 44), fontsize=9)  # a title naming varied settings outgrows the figure
    fig.tight_layout()
    return fig


def misclassified_grid(
    rows: list[dict], title: str, limit: int, root: Path | None, cols: int = 4
) -> Image.Image | None:
    """Up to `limit` wrong val images captioned with the whole file name (wrapped, never cut) and true /
    predicted (prob); None when none is wrong. Each image sits right above its caption. Only images under
    `root`/val (the run's data root) are drawn: a CSV row may name any file on disk, which the report must not show.

    Composed with PIL rather than matplotlib subplots: one image per run, ~50x faster to lay out.
    """
    wrong = [row for row in rows if row["true"] != row["pred"]]
    if not wrong:
        return None
    shown = wrong[:limit]
    font = ImageFont.load_default(size=FONT_PX)
    cell_w, line_h = THUMB + 2 * PAD, FONT_PX + 4
    captions = [_caption(row, font, THUMB) for row in shown]
    cell_h = THUMB + PAD + line_h * max(len(c) for c in captions) + 2 * PAD
    more = f" (first {limit} of {len(wrong)})" if len(wrong) > limit else ""
    heading = _wrap(f"{title}: misclassified val images{more}", font, cols * cell_w - 2 * PAD)
    header = line_h * len(heading) + 2 * PAD
    grid = Image.new("RGB", (cols * cell_w, header + math.ceil(len(shown) / cols) * cell_h), "white")
    draw = ImageDraw.Draw(grid)
    draw.multiline_text((PAD, PAD), "\n".join(heading), fill="black", font=font, spacing=4)
    for i, (row, caption) in enumerate(zip(shown, captions, strict=True)):
        x, y = (i % cols) * cell_w + PAD, header + (i // cols) * cell_h
        path = Path(row["path"])
        inside = root is not None and _under(path, root / "val")  # val images only, whatever the CSV says
        thumb = _thumbnail(path) if inside else None
        if thumb is None:
            draw.rectangle((x, y, x + THUMB, y + THUMB), outline="gray")
            why = "image not found" if inside else "not in data root/val" if root else "data root unrecorded"
            draw.multiline_text(
                (x + 8, y + THUMB // 2), "\n".join(_wrap(why, font, THUMB - 16)), fill="gray", font=font
            )
        else:  # a wide image sits on the caption, not THUMB - height pixels above it
            grid.paste(thumb, (x + (THUMB - thumb.width) // 2, y + THUMB - thumb.height))
        draw.multiline_text((x, y + THUMB + PAD), "\n".join(caption), fill="red", font=font, spacing=4)
    return grid


def _caption(row: dict, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    verdict = f"true {row['true']}, pred {row['pred']} ({float(row['prob']):.2f})"
    return [*_wrap(Path(row["path"]).name, font, width), *_wrap(verdict, font, width)]


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """`text` in lines no wider than `width` px: at spaces where it can, inside a word (a file name) where it
    must, never dropping a character."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if font.getlength(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = ""
        for char in word:
            if line and font.getlength(line + char) > width:
                lines.append(line)
                line = ""
            line += char
    return [*lines, line] if line or not lines else lines


def _under(path: Path, root: Path) -> bool:
    """`path` is inside `root` once links and `..` are resolved (a link inside the root to a file outside is not)."""
    real, top = os.path.realpath(path), os.path.realpath(root)
    return real != top and os.path.commonpath([real, top]) == top


def _thumbnail(path: Path) -> Image.Image | None:
    if not is_regular(path):  # a CSV's path may name anything; devices and FIFOs would block the report
        return None
    try:
        with Image.open(path) as image:
            return ImageOps.contain(image.convert("RGB"), (THUMB, THUMB))  # small images scaled up too
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
