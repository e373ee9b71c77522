"""Issue 19, item 6: an explanation never costs a finished run its results; each skipped picture says why."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
import torch

from conftest import compose_cfg, write_image_folder
from tl_lightning.data import ImageFolderDataModule
from tl_lightning.model import TransferLearningModule
from tl_lightning.model.explain.pipeline import ExplainSettings, RunInfo, explain
from tl_lightning.run.train import train

INFO = RunInfo("alexnet/extractor s0", 1, "none", 0)


@pytest.fixture
def parts(tiny_data: Path) -> tuple[TransferLearningModule, ImageFolderDataModule]:
    torch.manual_seed(0)
    module = TransferLearningModule("alexnet", ["ants", "bees"], weights="none", unfreeze=0, image_size=64)
    images = ImageFolderDataModule(tiny_data, 64, num_workers=0, download=False, decode_once=False)
    images.setup()
    return module, images


def _keep_val(images: ImageFolderDataModule, indices: list[int]) -> None:
    val = images.val_set
    val.samples = val.imgs = [val.samples[i] for i in indices]
    val.targets = [val.targets[i] for i in indices]


def test_a_one_image_val_set_skips_the_projection_and_keeps_everything_else(parts, tmp_path):
    module, images = parts
    _keep_val(images, [0])
    result = explain(module, images, tmp_path, INFO, ExplainSettings())
    assert result.skipped == ["features.png skipped: 1 val image(s) cannot be projected to 2-D"]
    assert result.numbers["after"]["probe_acc"] in (0.0, 1.0)
    assert "silhouette needs 2 classes" in result.numbers["after"]["why_none"]["silhouette"]
    assert (tmp_path / "saliency.png").is_file() and not (tmp_path / "features.png").exists()


def test_a_single_class_val_set_has_no_silhouette_but_every_picture(parts, tmp_path):
    module, images = parts
    _keep_val(images, [0, 1, 2])  # the tiny val set is class-sorted: three ants
    result = explain(module, images, tmp_path, INFO, ExplainSettings())
    assert result.skipped == [] and result.numbers["after"]["silhouette"] is None
    assert (tmp_path / "features.png").is_file() and (tmp_path / "saliency.png").is_file()


def test_nan_features_skip_the_numbers_and_say_so(parts, tmp_path):
    module, images = parts
    with torch.no_grad():
        module.model.features[0].weight.fill_(float("nan"))
    result = explain(module, images, tmp_path, INFO, ExplainSettings())
    assert result.numbers["before"] is None and result.numbers["after"] is None
    assert any("features hold NaN or inf for 12 of 12 images" in line for line in result.skipped)
    assert (tmp_path / "saliency.png").is_file()


def test_a_net_without_a_conv_stage_skips_only_the_saliency(parts, tmp_path):
    module, images = parts
    module.spec = dataclasses.replace(module.spec, cam_layer=None)
    result = explain(module, images, tmp_path, INFO, ExplainSettings())
    assert result.skipped == [
        "saliency.png skipped: no conv stage was found in alexnet (its ArchSpec has no cam_layer)"
    ]
    assert (tmp_path / "features.png").is_file() and not (tmp_path / "saliency.png").exists()


def test_names_that_are_not_utf8_reach_every_picture_and_the_projector(tmp_path):
    root = write_image_folder(tmp_path / "data", {"train": 3, "val": 2})
    odd_class = b"b\xffes"
    for split in ("train", "val"):
        os.rename(os.fsencode(root / split / "bees"), os.path.join(os.fsencode(root / split), odd_class))
    os.rename(os.fsencode(root / "val/ants/ants_0.jpg"), os.path.join(os.fsencode(root / "val/ants"), b"a\xe9.jpg"))
    overrides = ["arch.weights=none", "arch.image_size=64", f"data.root={root}", "data.num_workers=0", "trainer=cpu"]
    cfg = compose_cfg([*overrides, "trainer.max_epochs=1", "trainer.enable_progress_bar=false"], tmp_path / "run")
    train(cfg)
    out = Path(cfg.paths.output_dir)
    assert json.loads((out / "metrics.json").read_text())["feature_space"]["skipped"] == []
    assert (out / "features.png").is_file() and (out / "saliency.png").is_file()
    (metadata,) = out.glob("*/*/metadata.tsv")
    assert "b\ufffdes" in metadata.read_text(encoding="utf-8")
