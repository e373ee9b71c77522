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
from omegaconf import OmegaConf

from tl_lightning.config import CONF_DIR
from tl_lightning.gpu_slots import claim

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


def test_slurm_launcher_renders_the_sbatch_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    submitit = pytest.importorskip("submitit")
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

    cfg = _hydra_cfg(
        [
            "hydra/launcher=slurm",
            "hydra.launcher.partition=gpu",
            "hydra.launcher.tasks_per_node=4",
            "hydra.launcher.gpus_per_node=4",
            "trainer=ddp",
            "trainer.devices=4",
        ]
    )
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=False)
    assert launcher["_target_"] == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert cfg.trainer.strategy == "ddp" and cfg.trainer.devices == 4
    # The plugin's own mapping of its config onto submitit's parameters (SlurmLauncher.launch).
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    params = {
        k if k in base else f"slurm_{k}": v
        for k, v in launcher.items()
        if k not in {"_target_", "submitit_folder", "max_num_timeout"}
    }
    params["name"] = "tl_lightning"
    srun = tmp_path / "bin" / "srun"  # submitit refuses to build a SLURM executor where srun is absent
    srun.parent.mkdir()
    srun.write_text("#!/bin/sh\n")
    srun.chmod(0o755)
    monkeypatch.setenv("PATH", f"{srun.parent}{os.pathsep}{os.environ['PATH']}")
    executor = submitit.AutoExecutor(cluster="slurm", folder=tmp_path / "submitit")
    executor.update_parameters(**params)
    sbatch = executor._executor._make_submission_file_text("python -m tl_lightning", "uid")
    for line in (
        "#SBATCH --partition=gpu",
        "#SBATCH --gpus-per-node=4",
        "#SBATCH --ntasks-per-node=4",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --mem=32GB",
        "#SBATCH --time=120",
    ):
        assert line in sbatch, line


def test_optuna_sweeper_searches_the_learning_rate_on_a_log_scale():
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    sweeper = _hydra_cfg(["hydra/sweeper=optuna_lr"]).hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper")
    assert (sweeper.direction, sweeper.n_trials) == ("maximize", 12)
    assert sweeper.params["optimizer.lr"] == "tag(log, interval(1e-5, 1e-2))"


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

    from tl_lightning.train import train

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.raises(ValueError, match="pin_gpu=true"):
        train(make_cfg("alexnet", "extractor", "pin_gpu=true"))
