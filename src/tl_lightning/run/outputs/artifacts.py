"""Per-run artifacts: metrics.json, loss_curves.png, predictions.png, val_predictions.csv."""

from __future__ import annotations

import csv
import json
import logging
import math
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.ticker import MaxNLocator
from PIL import Image

from tl_lightning.errors import UserError
from tl_lightning.figures import Figure, reason
from tl_lightning.files import atomic_open, atomic_write
from tl_lightning.spreadsheet import guard_row

log = logging.getLogger(__name__)
T = TypeVar("T")


def summarize(history: dict[str, list[float]], **extra: object) -> dict:
    """metrics.json content: per-epoch lists plus best/last val accuracy (epochs count from 1)."""
    val_acc = history["val_acc"]
    best = max(range(len(val_acc)), key=val_acc.__getitem__) if val_acc else None
    return {
        **extra,
        "epochs": len(history["train_loss"]),
        **{k: list(v) for k, v in history.items()},
        "val_acc_best": val_acc[best] if best is not None else None,
        "best_epoch": best + 1 if best is not None else None,
        "val_acc_last": val_acc[-1] if val_acc else None,
    }


def write_json(path: Path, data: dict) -> None:
    # Atomic: readers (the sweep summary) never see a half-written file, and a kill keeps the previous one.
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(data, indent=2))


def plot_curves(history: dict[str, list[float]], title: str) -> Figure:
    # Figure() without pyplot: no GUI backend and no global figure registry, so it works headless.
    fig = Figure(figsize=(10, 4))
    ax_loss, ax_acc = fig.subplots(1, 2)
    for split in ("train", "val"):
        for ax, metric in ((ax_loss, "loss"), (ax_acc, "acc")):
            values = history[f"{split}_{metric}"]
            ax.plot(range(1, len(values) + 1), values, marker="o", ms=4, lw=2, label=split)
    ax_acc.set_ylim(0, 1.02)
    epochs = len(history["train_loss"])
    # Sizes chosen for the figure seen scaled down (TensorBoard, a report): legends and labels >= 12 pt.
    for ax, name, ylabel in ((ax_loss, "loss", "cross-entropy"), (ax_acc, "accuracy", "accuracy")):
        ax.set_title(name, fontsize=14)
        ax.set_xlabel("epoch", fontsize=12)
        ax.set_ylabel(ylabel, fontsize=12)
        ax.tick_params(labelsize=11)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=13)
    fig.suptitle(f"{title}: {epochs} epoch{'s' if epochs != 1 else ''}", fontsize=15)
    fig.tight_layout()
    return fig


def prediction_grid(
    images: torch.Tensor,
    preds: list[int],
    targets: list[int],
    probs: list[float],
    class_names: list[str],
    title: str = "",
) -> Figure:
    """The assignment's visualize_model: val images titled predicted / true, wrong ones in red."""
    n = len(images)
    # Narrow (2 columns for the default 8 images): TensorBoard and reports show a figure scaled to a fixed width,
    # so the fewer panels across, the larger each caption is seen.
    cols = min(max(2, math.ceil(math.sqrt(n / 2))), n)
    rows = math.ceil(n / cols)
    # Constrained layout reserves room for every two-line title and the suptitle, so rows never overlap.
    fig = Figure(figsize=(3 * cols, 3.4 * rows + 0.5), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.set(xticks=[], yticks=[])  # no tick machinery: layout and drawing cost a third less
        ax.axis("off")
    for ax, image, pred, target, prob in zip(axes.flat, images, preds, targets, probs, strict=False):
        ax.imshow(image.permute(1, 2, 0).numpy())
        wrong = pred != target
        ax.set_title(  # 18 pt on a 3-inch panel: still readable when the grid is shown as a thumbnail
            f"pred: {class_names[pred]} ({prob:.2f})\ntrue: {class_names[target]}" + ("  ✗" if wrong else ""),
            color="red" if wrong else "black",
            fontsize=18,
            fontweight="bold" if wrong else "normal",
        )
        if wrong:
            for spine in ax.spines.values():
                spine.set(visible=True, color="red", linewidth=3)
            ax.axis("on")
            ax.set(xticks=[], yticks=[])
    if title:
        fig.suptitle(textwrap.fill(title, 22 * cols), fontsize=18)  # ~24 characters of 18 pt fit a 3-inch panel
    return fig


def drawn(metrics: dict, name: str, draw: Callable[[], T]) -> T | None:
    """draw()'s result; a figure that fails to draw is a named skip in metrics["figures_skipped"] and the log, never the
    loss of the trained run's metrics.json. A full disk or a refused path (OSError, UserError) still ends the
    run with its one line: metrics.json could not be written either."""
    try:
        return draw()
    except (OSError, UserError):
        raise
    except Exception as err:  # noqa: BLE001 - a picture must not cost the run its results
        line = f"{name} skipped: {reason(err)}"
        metrics.setdefault("figures_skipped", []).append(line)
        log.warning(line)
        return None


def pixels(fig: Figure) -> np.ndarray:
    """The figure drawn once (RGB, HWC, at 100 dpi): predictions.png and TensorBoard both show these, where each
    drawing its own costs a second of layout per run."""
    fig.set_dpi(100)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def save_pixels(image: np.ndarray, path: Path) -> None:
    atomic_write(path, lambda f: Image.fromarray(image).save(f, format="png"))


def write_predictions_csv(
    path: Path,
    samples: list[tuple[str, int]],
    probs: torch.Tensor,
    class_names: list[str],
    split: tuple[Callable[[str], str], dict[str, int]] | None = None,
) -> None:
    """One row per image: path, true, pred, prob. `split` (cross-validation runs): (path -> the image's path
    relative to data.root, {folds, fold, split_seed}), written as the columns image, folds, fold, split_seed."""
    # surrogateescape: a file name that is not valid UTF-8 (any bytes a directory listing returns) is written as
    # its original bytes instead of crashing the run after training; csv quotes commas, quotes and newlines.
    with atomic_open(path, "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "true", "pred", "prob", *(["image", *split[1]] if split else [])])
        for (file, target), p in zip(samples, probs, strict=True):
            pred = int(p.argmax())
            extra = [split[0](file), *split[1].values()] if split else []
            # guard_row: a class folder named =HYPERLINK(...) stays text in a spreadsheet; the report unguards it.
            row = [file, class_names[target], class_names[pred], f"{float(p[pred]):.4f}", *extra]
            writer.writerow(guard_row(row))


def grid_indices(n_samples: int, n_shown: int) -> list[int]:
    """Evenly spaced val indices, so a class-sorted ImageFolder shows every class."""
    n_shown = min(n_shown, n_samples)
    return [round(i * (n_samples - 1) / max(n_shown - 1, 1)) for i in range(n_shown)]


def grid_sample(preds: list[int], targets: list[int], n_shown: int) -> list[int]:
    """Val indices for the grid: the mistakes first (evenly spread if there are more than fit), then correct
    ones evenly spread over the (class-sorted) val set, up to `n_shown`."""
    wrong = [i for i, (p, t) in enumerate(zip(preds, targets, strict=True)) if p != t]
    right = [i for i, (p, t) in enumerate(zip(preds, targets, strict=True)) if p == t]
    shown = [wrong[i] for i in grid_indices(len(wrong), n_shown)] if wrong else []
    room = n_shown - len(shown)
    return shown + ([right[i] for i in grid_indices(len(right), room)] if right and room > 0 else [])


def grid_title(run: str, epoch: int | None, n_wrong: int, n_total: int) -> str:
    """Says which run and which epoch's weights the grid shows, and how many val images they get wrong."""
    at = f"epoch {epoch} (best checkpoint)" if epoch is not None else "the last epoch"
    return f"{run}: val predictions at {at}; {n_wrong} of {n_total} wrong, mistakes shown first"
