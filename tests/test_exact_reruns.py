"""Same seed and config, same metrics: progress bars, logging and quiet mode never shift a random stream."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tl_lightning.run.train import train

REPO = Path(__file__).resolve().parents[1]
VOLATILE = ("wall_s", "best_checkpoint", "overrides", "feature_store")  # cost, not result


def stable(metrics: dict) -> dict:
    return {k: v for k, v in json.loads(json.dumps(metrics)).items() if k not in VOLATILE}


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["extractor", "finetune"])
def test_quiet_and_progress_bars_give_identical_metrics(make_cfg, strategy):
    common = ("trainer.max_epochs=2", "data.batch_size=3")
    bars = train(make_cfg("alexnet", strategy, *common, "quiet=false", "trainer.enable_progress_bar=true"))
    quiet = train(make_cfg("alexnet", strategy, *common, "quiet=true"))
    assert stable(bars) == stable(quiet)


@pytest.mark.slow
def test_cli_with_tl_quiet_and_with_bars_writes_identical_metrics(tiny_data, tmp_path):
    base = {k: v for k, v in os.environ.items() if k != "TL_QUIET"}
    base["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO / "tests")])
    metrics = []
    for name, env in (("bars", base), ("quiet", {**base, "TL_QUIET": "1"})):
        run_dir = tmp_path / name
        args = [
            "arch=alexnet",
            "strategy=extractor",
            "strategy.cache_views=3",
            "arch.weights=none",
            "arch.image_size=64",
            f"data.root={tiny_data}",
            "data.batch_size=3",
            "trainer=cpu",
            "trainer.max_epochs=2",
            f"hydra.run.dir={run_dir}",
        ]
        proc = subprocess.run(
            [sys.executable, "-m", "tl_lightning", *args], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        metrics.append(json.loads((run_dir / "metrics.json").read_text()))
    assert stable(metrics[0]) == stable(metrics[1])
