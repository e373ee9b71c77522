"""Real hymenoptera data and offline ImageNet weights from ../shared (minutes; skipped when absent)."""

from __future__ import annotations

import pytest

from conftest import REAL_DATA, WEIGHTS, requires
from tl_lightning.train import train

pytestmark = [pytest.mark.slow, requires(REAL_DATA), requires(WEIGHTS / "alexnet-imagenet-features.pth")]


def test_alexnet_extractor_reaches_85_percent_within_5_epochs(make_cfg):
    cfg = make_cfg(
        "alexnet",
        "extractor",
        f"data.root={REAL_DATA}",
        f"arch.weights={WEIGHTS / 'alexnet-imagenet-features.pth'}",
        "arch.image_size=244",
        "trainer.max_epochs=5",
        "data.num_workers=2",
    )
    metrics = train(cfg)
    assert metrics["epochs"] == 5
    assert metrics["val_acc_best"] >= 0.85, metrics["val_acc"]
