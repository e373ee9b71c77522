"""Issue 19: every run explains itself: features before/after with measured separability, Grad-CAM, Projector."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tl_lightning.run.train import train


def _metrics(cfg) -> dict:
    return json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())


@pytest.mark.parametrize("strategy", ["extractor", "mixed"])
def test_a_run_writes_features_saliency_and_separability(make_cfg, strategy):
    cfg = make_cfg("alexnet", strategy, "trainer.max_epochs=2")
    train(cfg)
    out = Path(cfg.paths.output_dir)
    space = _metrics(cfg)["feature_space"]
    assert space["skipped"] == []
    for side in ("before", "after"):
        assert set(space[side]) == {"knn_acc", "probe_acc", "silhouette"}
        assert 0 <= space[side]["probe_acc"] <= 1
    assert (out / "features.png").stat().st_size > 10_000
    assert (out / "saliency.png").stat().st_size > 10_000


def test_extractor_features_before_and_after_are_equal_exactly(make_cfg):
    cfg = make_cfg("alexnet", "extractor", "trainer.max_epochs=2")
    train(cfg)
    space = _metrics(cfg)["feature_space"]
    assert space["before"] == space["after"]
