"""Figures read at the size they are seen (TensorBoard's image card, a report page): captions and legends at
least 12 pt, whole file names under misclassified images, each image right above its caption (issue 23)."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

from tl_lightning.report import plots
from tl_lightning.report.groups import Cell
from tl_lightning.report.runs import Run
from tl_lightning.run.outputs import artifacts

HISTORY = {"train_loss": [0.7, 0.5], "val_loss": [0.6, 0.45], "train_acc": [0.5, 0.7], "val_acc": [0.6, 0.8]}


def test_prediction_grid_captions_are_large_enough_for_a_thumbnail():
    # TensorBoard's image card shows the figure ~270 px wide: its captions must still be >= 9 px tall there.
    fig = artifacts.prediction_grid(torch.rand(8, 3, 32, 32), [0, 1] * 4, [1, 1] * 4, [0.9] * 8, ["ants", "bees"])
    thumbnail_scale = 270 / fig.get_figwidth()  # px per inch of figure
    assert min(ax.title.get_fontsize() for ax in fig.axes) / 72 * thumbnail_scale >= 9


def test_loss_curve_legends_are_readable():
    fig = artifacts.plot_curves(HISTORY, "alexnet / extractor")
    assert all(t.get_fontsize() >= 12 for ax in fig.axes for t in ax.get_legend().get_texts())


def test_overlaid_curves_put_a_readable_legend_beside_the_curves(tmp_path):
    cells = []
    for i, name in enumerate(("alexnet", "vgg16", "inception_v3")):
        run = Run(name=name, path=tmp_path / name, arch=name, strategy="extractor", seed=i, metrics=HISTORY)
        cells.append(Cell(arch=name, strategy="extractor", settings={}, runs=[run]))
    fig = plots.overlaid_curves(cells, "loss", "arch")
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend()
    assert all(t.get_fontsize() >= 11 for t in legend.get_texts())
    renderer = canvas.get_renderer()
    assert legend.get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1  # not over the curves
    assert legend.get_window_extent(renderer).x1 <= fig.bbox.x1  # and not cut off


def test_misclassified_grid_shows_whole_file_names_right_under_each_image(tmp_path):
    name = "a_very_long_file_name_of_an_ant_photo_0013.jpg"
    (tmp_path / "val" / "ants").mkdir(parents=True)
    image = tmp_path / "val" / "ants" / name
    Image.new("RGB", (300, 100), (0, 128, 0)).save(image)  # wide: its thumbnail is short
    row = {"path": str(image), "true": "ants", "pred": "bees", "prob": "0.81"}
    grid = np.asarray(plots.misclassified_grid([row], "alexnet / extractor s0", 16, tmp_path))
    green = (grid[..., 0] < 60) & (grid[..., 1] > 100) & (grid[..., 2] < 60)  # JPEG: near the colour
    red = (grid[..., 0] > 150) & (grid[..., 1] < 100) & (grid[..., 2] < 100)
    image_bottom = np.nonzero(green.any(axis=1))[0].max()
    caption_top = np.nonzero(red.any(axis=1))[0].min()
    assert 0 < caption_top - image_bottom <= 20  # no gap the size of the missing image height
    caption = plots._caption(row, plots.ImageFont.load_default(size=plots.FONT_PX), plots.THUMB)
    assert name in "".join(caption) and len(caption) >= 3  # wrapped over lines, never cut


def test_the_grid_drawn_once_is_the_picture_savefig_writes(tmp_path):
    # predictions.png and TensorBoard's val/predictions share one drawing (artifacts.pixels): the same pixels.
    images = torch.rand(8, 3, 32, 32)
    grid = lambda: artifacts.prediction_grid(images, [0, 1] * 4, [1, 1] * 4, [0.9] * 8, ["ants", "bees"])  # noqa: E731
    grid().savefig(tmp_path / "saved.png", dpi=100)
    artifacts.save_pixels(artifacts.pixels(grid()), tmp_path / "once.png")
    saved, once = (np.asarray(Image.open(tmp_path / n).convert("RGB")) for n in ("saved.png", "once.png"))
    assert saved.shape == once.shape and np.array_equal(saved, once)
