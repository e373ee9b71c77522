"""Issue 19: Grad-CAM works for every listed arch and gives a map of the image's size; no conv stage is named."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from tl_lightning.model import TransferLearningModule
from tl_lightning.model.explain.saliency import NoCamLayer, grad_cam

SIZES = {"alexnet": 64, "vgg16": 32, "inception_v3": 299, "mobilenet_v2": 32, "resnet18": 32}


@pytest.mark.parametrize("arch", list(SIZES))
def test_every_listed_arch_yields_a_saliency_map_of_the_images_size(arch):
    size = SIZES[arch]
    torch.manual_seed(0)
    module = TransferLearningModule(arch, ["ants", "bees"], weights="none", unfreeze=0, image_size=size)
    images = torch.randn(1, 3, size, size)
    maps = grad_cam(module, images)
    assert [tuple(m.heat.shape) for m in maps] == [(size, size)]
    for m in maps:
        assert torch.isfinite(m.heat).all() and float(m.heat.min()) >= 0 and float(m.heat.max()) <= 1
        assert 0.5 <= m.prob <= 1 and m.pred in (0, 1)


def test_a_net_without_a_conv_stage_is_named_not_guessed():
    module = TransferLearningModule("alexnet", ["ants", "bees"], weights="none", unfreeze=0, image_size=64)
    module.spec = dataclasses.replace(module.spec, cam_layer=None)
    with pytest.raises(NoCamLayer, match="no conv stage was found in alexnet"):
        grad_cam(module, torch.randn(1, 3, 64, 64))


def test_the_saliency_figure_blends_without_matplotlib_clipping_warnings(caplog):
    from tl_lightning.model.explain.figures import saliency_figure
    from tl_lightning.model.explain.saliency import Saliency

    # A white image (clamped to exactly 1.0) under heat whose colour has a channel at 1.0: in floating point the
    # blend lands a hair above 1.0, which matplotlib logs as "Clipping input data" for every such panel.
    white = torch.full((3, 8, 8), 10.0)
    maps = [Saliency(i, white, torch.full((8, 8), h), 0, 0, 0.9) for i, h in enumerate((0.35, 0.5, 0.65, 1.0))]
    with caplog.at_level("WARNING", logger="matplotlib"):
        fig = saliency_figure(maps, ["ants", "bees"], "t")
        fig.canvas.draw()
    assert not [r for r in caplog.records if "Clipping" in r.getMessage()]
    images = [im.get_array() for ax in fig.axes for im in ax.get_images()]
    assert len(images) == 4 and all(float(a.max()) <= 1.0 for a in images)


def test_explanation_pictures_get_the_users_umask_mode_not_a_private_temp_files(tmp_path):
    import os

    from matplotlib.figure import Figure

    from tl_lightning.model.explain.figures import save

    old = os.umask(0o022)
    try:
        save(Figure(figsize=(1, 1)), tmp_path / "features.png")
    finally:
        os.umask(old)
    assert (tmp_path / "features.png").stat().st_mode & 0o777 == 0o644  # mkstemp alone gives 0600
    assert [p.name for p in tmp_path.iterdir()] == ["features.png"]


def test_the_saliency_heading_wraps_inside_the_figure_and_panels_do_not_overlap():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from tl_lightning.model.explain.figures import saliency_figure
    from tl_lightning.model.explain.saliency import Saliency

    image = torch.zeros(3, 244, 244)
    title = "alexnet/extractor s0: Grad-CAM at features.10, epoch 25 (last); first 4 val images per class, then more"
    for count in (1, 5, 12):
        maps = [Saliency(i, image, torch.rand(244, 244), 0, 1, 0.9) for i in range(count)]
        fig = saliency_figure(maps, ["ants", "bees"], title)
        renderer = FigureCanvasAgg(fig).get_renderer()
        page = fig.bbox
        heading = fig._suptitle.get_window_extent(renderer)
        assert page.x0 <= heading.x0 and heading.x1 <= page.x1 and heading.y1 <= page.y1, count
        boxes = [ax.get_tightbbox(renderer) for ax in fig.axes]  # image plus its pred/true title
        for box in boxes:
            assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= heading.y0, count
        assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :]), count
        # about one screen pixel per image pixel: a 244 px input is drawn ~250 px wide, not upsampled
        assert all(240 <= ax.get_window_extent(renderer).width <= 260 for ax in fig.axes), count
