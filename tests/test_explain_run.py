"""Issue 19: every run explains itself: features before/after with measured separability, Grad-CAM, Projector."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tl_lightning.errors import UserError
from tl_lightning.run.train import train


def _metrics(cfg) -> dict:
    return json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["extractor", "mixed"])
def test_a_run_writes_features_saliency_and_separability(make_cfg, strategy):
    cfg = make_cfg("alexnet", strategy, "trainer.max_epochs=2", "explain.projection=pca")
    train(cfg)
    out = Path(cfg.paths.output_dir)
    space = _metrics(cfg)["feature_space"]
    assert space["skipped"] == []
    for side in ("before", "after"):
        assert set(space[side]) == {"knn_acc", "probe_acc", "silhouette"}
        assert 0 <= space[side]["probe_acc"] <= 1
    assert (out / "features.png").stat().st_size > 10_000
    assert (out / "saliency.png").stat().st_size > 10_000


def test_the_val_features_reach_tensorboards_projector_with_class_prediction_and_image(make_cfg):
    cfg = make_cfg("alexnet", "extractor", "trainer.max_epochs=1", "explain.projection=pca")
    train(cfg)
    out = Path(cfg.paths.output_dir)
    config = (out / "projector_config.pbtxt").read_text()
    assert 'tensor_name: "val_features_head_input:00001"' in config and "sprite" in config
    (folder,) = (out / "00001").iterdir()
    rows = (folder / "tensors.tsv").read_text().splitlines()
    assert len(rows) == 8 and len(rows[0].split("\t")) == 9216  # AlexNet's pooled 256 x 6 x 6
    metadata = (folder / "metadata.tsv").read_text().splitlines()
    assert metadata[0] == "class\tprediction" and len(metadata) == 9
    assert {line.split("\t")[0] for line in metadata[1:]} == {"ants", "bees"}
    assert (folder / "sprite.png").stat().st_size > 0


def test_explain_false_turns_it_all_off(make_cfg):
    cfg = make_cfg("alexnet", "extractor", "trainer.max_epochs=1", "explain=false")
    train(cfg)
    out = Path(cfg.paths.output_dir)
    assert "feature_space" not in _metrics(cfg)
    assert not (out / "features.png").exists() and not (out / "projector_config.pbtxt").exists()


def test_a_misspelt_explain_setting_is_refused_before_training(make_cfg):
    cfg = make_cfg("alexnet", "extractor", "explain.projection=umap")
    with pytest.raises(UserError, match="explain.projection='umap' is unknown: use pca or tsne"):
        train(cfg)
    assert not (Path(cfg.paths.output_dir) / "checkpoints").exists()


def test_extractor_features_before_and_after_are_equal_exactly(make_cfg):
    cfg = make_cfg("alexnet", "extractor", "trainer.max_epochs=2", "explain.projection=pca")
    train(cfg)
    space = _metrics(cfg)["feature_space"]
    assert space["before"] == space["after"]
