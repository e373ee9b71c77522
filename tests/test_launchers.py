"""Hydra launcher and sweeper configs: a real 2-job joblib sweep on CPU, the SLURM submission rendered.

The plugins are optional extras (`pip install -e ".[launchers,optuna]"`); each test skips when its
plugin is not installed.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from tl_lightning.conf import CONF_DIR
from tl_lightning.run.gpu_slots import claim

SRC = Path(__file__).resolve().parents[1] / "src"


def _hydra_cfg(overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    GlobalHydra.instance().clear()
    return cfg


def test_joblib_sweep_runs_two_jobs_in_parallel(tiny_data: Path, tmp_path: Path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    command = [sys.executable, "-m", "tl_lightning", "-m", "hydra/launcher=joblib_gpus", "hydra.launcher.n_jobs=2"]
    command += [
        "arch=alexnet",
        "arch.weights=none",
        "arch.image_size=64",
        "strategy=extractor",
        f"data.root={tiny_data}",
        "data.num_workers=0",
        "trainer=cpu",
        "trainer.max_epochs=1",
        "quiet=true",
        "seed=0,1",
        f"hydra.sweep.dir={tmp_path}",
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Joblib.Parallel(n_jobs=2" in done.stdout + done.stderr
    with open(tmp_path / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and all(float(r["val_acc_best"]) >= 0 for r in rows)
    assert "Caching input" not in done.stderr  # quiet=true: no progress bars


def test_gpu_claims_never_share_a_device(tmp_path: Path):
    with claim(2, start=1, lock_dir=tmp_path) as first, claim(2, start=1, lock_dir=tmp_path) as second:
        assert (first, second) == (1, 0)
        got = []
        waiter = threading.Thread(target=lambda: _claim_into(got, tmp_path))
        waiter.start()
        waiter.join(0.3)
        assert got == []  # both GPUs held: the third run waits
    waiter.join(5)
    assert got == [1]


def _claim_into(got: list[int], lock_dir: Path) -> None:
    with claim(2, start=1, lock_dir=lock_dir, poll_s=0.05) as index:
        got.append(index)


def test_pin_gpu_without_gpus_names_the_setting(make_cfg, monkeypatch: pytest.MonkeyPatch):
    import torch

    from tl_lightning.run.train import train

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.raises(ValueError, match="pin_gpu=true"):
        train(make_cfg("alexnet", "extractor", "pin_gpu=true"))
