"""Issue 19: the val features reach TensorBoard's Projector exactly, whatever the class names hold."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from tensorboard.plugins.projector.projector_plugin import _read_tensor_tsv_file

from conftest import compose_cfg, write_image_folder
from tl_lightning.run.outputs.projector import write_embedding
from tl_lightning.run.train import train


def test_the_projector_reads_back_exactly_the_features_the_head_read(tmp_path):
    torch.manual_seed(0)
    features = torch.randn(7, 50) * torch.logspace(-6, 6, 50)  # float32 over twelve decades
    thumbs = torch.rand(7, 3, 48, 48)
    folder = write_embedding(tmp_path, "val_features", 3, features, [["a", "b"]] * 7, ["class", "prediction"], thumbs)
    assert folder == tmp_path / "00003" / "val_features"
    read = _read_tensor_tsv_file(str(folder / "tensors.tsv"))  # TensorBoard's own reader
    assert read.dtype == np.float32 and np.array_equal(read, features.numpy())
    from PIL import Image

    with Image.open(folder / "sprite.png") as sprite:
        assert sprite.size == (3 * 48, 3 * 48)  # square, ceil(sqrt(7)) thumbnails a side
        assert np.abs(np.asarray(sprite)[:48, :48] / 255 - thumbs[0].permute(1, 2, 0).numpy()).max() <= 0.5 / 255
    config = (tmp_path / "projector_config.pbtxt").read_text()
    assert 'tensor_name: "val_features:00003"' in config and 'tensor_path: "00003/val_features/tensors.tsv"' in config


def test_a_tab_or_newline_in_a_class_name_does_not_shift_the_projectors_columns(tmp_path):
    root = write_image_folder(tmp_path / "data", {"train": 3, "val": 2})
    for split in ("train", "val"):
        os.rename(root / split / "bees", root / split / "be\tes\nx")
    overrides = ["arch.weights=none", "arch.image_size=64", f"data.root={root}", "data.num_workers=0", "trainer=cpu"]
    cfg = compose_cfg([*overrides, "trainer.max_epochs=1", "trainer.enable_progress_bar=false"], tmp_path / "run")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(cfg)
    assert not [w for w in caught if "Glyph" in str(w.message)]  # the figures draw the name with a space
    out = Path(cfg.paths.output_dir)
    assert json.loads((out / "metrics.json").read_text())["feature_space"]["skipped"] == []
    (metadata,) = out.glob("*/*/metadata.tsv")
    rows = [line.split("\t") for line in metadata.read_text(encoding="utf-8").splitlines()]
    assert rows[0] == ["class", "prediction"] and len(rows) == 1 + 4
    assert all(len(row) == 2 for row in rows) and {row[0] for row in rows[1:]} == {"ants", "be es x"}
