"""Lightning DDP with 2 CPU processes (gloo) against one process on the same tiny data.

What is compared: the extractor strategy trains only a Linear head on cached features, with a global
batch equal to the whole train set (12 images: 12 in one process, 6 per rank under DDP). Each step is
then the full-batch gradient whatever order the samplers draw, so the two runs take the same Adam steps
and their per-epoch train/val loss and accuracy, the best checkpoint's test accuracy and every val
prediction must agree to float rounding (1e-5). The val set has an odd size (11), so an exact match
also shows DDP evaluation counts each image once (no padded repeats) and gathers predictions in order.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import compose_cfg, write_image_folder
from tl_lightning.run.train import train

SRC = Path(__file__).resolve().parents[1] / "src"
TOL = 1e-5


def _data(root: Path) -> Path:
    write_image_folder(root, {"train": 6, "val": 5})
    pixels = np.random.default_rng(7).integers(0, 255, (40, 52, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(root / "val" / "bees" / "bees_odd.jpg", quality=90)  # 11 val images
    return root


def _overrides(data: Path, batch_size: int) -> list[str]:
    return [
        "arch=alexnet",
        "strategy=extractor",
        "arch.weights=none",
        "arch.image_size=64",
        f"data.root={data}",
        "data.num_workers=0",
        f"data.batch_size={batch_size}",
        "trainer.accelerator=cpu",
        "trainer.deterministic=true",
        "trainer.max_epochs=2",
        "trainer.enable_progress_bar=false",
    ]


def _predictions(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("ddp")
    data = _data(tmp / "data")
    single = tmp / "single"
    train(compose_cfg([*_overrides(data, 12), "trainer=cpu"], single))

    ddp = tmp / "ddp"
    command = [sys.executable, "-m", "tl_lightning", *_overrides(data, 6)]
    command += ["trainer=ddp", "trainer.devices=2", f"hydra.run.dir={ddp}"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    return single, ddp


@pytest.mark.slow
def test_ddp_metrics_equal_a_single_process_run(runs):
    single, ddp = (json.loads((d / "metrics.json").read_text()) for d in runs)
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert ddp[key] == pytest.approx(single[key], abs=TOL), key
    assert ddp["test_acc_best_checkpoint"] == pytest.approx(single["test_acc_best_checkpoint"], abs=TOL)
    assert ddp["best_epoch"] == single["best_epoch"]


def test_ddp_uses_the_feature_cache(runs):
    for run in runs:
        assert json.loads((run / "metrics.json").read_text())["input_cache"] == "input of classifier"


@pytest.mark.parametrize("name", ["val_predictions.csv", "val_predictions_last.csv"])
def test_ddp_predictions_cover_every_val_image_once_in_order(runs, name):
    single, ddp = (_predictions(d / name) for d in runs)
    assert len(ddp) == 11
    assert [r["path"] for r in ddp] == [r["path"] for r in single]
    assert [r["pred"] for r in ddp] == [r["pred"] for r in single]
    # The csv rounds to 4 decimals, so equal probabilities may print 1e-4 apart.
    assert [float(r["prob"]) for r in ddp] == pytest.approx([float(r["prob"]) for r in single], abs=1.5e-4)


def test_ddp_artifacts_are_written_once_by_rank_zero(runs):
    single, ddp = runs
    events = list(ddp.rglob("events.out.tfevents*"))
    assert len(events) == len(list(single.rglob("events.out.tfevents*")))
    assert len({name.name.split(".")[-2] for name in events}) == 1, "TensorBoard events from more than one process"
    assert len(list(ddp.rglob("metrics.json"))) == 1
    assert (ddp / "predictions.png").stat().st_size > 0


def test_ddp_in_a_local_multirun_is_refused_naming_the_setting(make_cfg, monkeypatch):
    from types import SimpleNamespace

    from hydra.types import RunMode

    import tl_lightning.run.launch.ddp as ddp

    class MultirunHydra:
        initialized = staticmethod(lambda: True)
        get = staticmethod(lambda: SimpleNamespace(mode=RunMode.MULTIRUN))

    cfg = make_cfg("alexnet", "extractor", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2")
    for var in ("SLURM_NTASKS", "SLURM_JOB_NAME", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(ddp, "HydraConfig", MultirunHydra)
    with pytest.raises(ValueError, match="trainer.strategy=ddp in a local -m sweep"):
        train(cfg)


@pytest.mark.slow
def test_ddp_trains_with_device_augmentation(tmp_path):
    """Lightning swaps in a DistributedSampler for the index loader; each rank augments its shard itself."""
    data, run = _data(tmp_path / "data"), tmp_path / "run"
    overrides = [o.replace("strategy=extractor", "strategy=finetune") for o in _overrides(data, 3)]
    overrides = [o.replace("trainer.max_epochs=2", "trainer.max_epochs=1") for o in overrides]
    command = [sys.executable, "-m", "tl_lightning", *overrides, "data.augment_on_device=true"]
    command += ["trainer=ddp", "trainer.devices=2", f"hydra.run.dir={run}"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["input_cache"] == "off" and len(metrics["train_loss"]) == 1
