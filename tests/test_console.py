"""What a new user sees of a single run: the config, one line per epoch (also in train.log), epochs counted
from 1, a closing summary line, caching bars in user terms, and none of Lightning's known noise."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import compose_cfg
from tl_lightning.run.config.show_config import config_lines, default_config
from tl_lightning.run.observe.epochs import epoch_line, run_summary_line

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_a_single_run_reports_each_epoch_and_ends_with_one_summary_line(tiny_data, tmp_path):
    run_dir = tmp_path / "run"
    # A store of its own: the frozen pass runs here (earlier tests' stored activations would stand in for it).
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "TL_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("TL_QUIET", None)
    args = ["arch=alexnet", "arch.weights=none", "arch.image_size=64", f"data.root={tiny_data}", "data.num_workers=0"]
    args += ["trainer=cpu", "trainer.max_epochs=2", f"hydra.run.dir={run_dir}"]
    done = subprocess.run(
        [sys.executable, "-m", "tl_lightning", *args], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    console = done.stdout + done.stderr
    assert "settings that differ from the defaults:\n  arch.weights: none\n" in done.stdout  # printed first
    for epoch in (1, 2):
        pattern = rf"epoch {epoch}/2  train loss \d\.\d{{4}} acc \d\.\d{{4}} \| val loss \d\.\d{{4}} acc \d\.\d{{4}}"
        assert re.search(pattern, console) and re.search(pattern, (run_dir / "train.log").read_text())
    assert "Epoch 2/2" in console and "Epoch 0/" not in console  # the bar counts from 1 too
    summary = (
        rf"alexnet/extractor: best val acc \d\.\d{{3}} at epoch [12], last \d\.\d{{3}}, \d+ s, outputs in {run_dir}"
    )
    assert re.search(summary, console) and re.search(summary, (run_dir / "train.log").read_text())
    assert "Frozen layers: one pass over 12 images" in console and "Caching input of" not in console
    assert "Frozen pass: 0 activations read, 20 computed" in console
    assert "litlogger" not in console and "LeafSpec" not in console


def test_epoch_and_summary_lines_count_epochs_from_one():
    history = {"train_loss": [0.7, 0.5], "train_acc": [0.5, 0.75], "val_loss": [0.6, 0.4], "val_acc": [0.6, 0.9]}
    line = epoch_line(history, 1, 25, 3.04)
    assert line == "epoch 2/25  train loss 0.5000 acc 0.7500 | val loss 0.4000 acc 0.9000 | 3.0 s"
    metrics = {"arch": "vgg16", "strategy": "mixed", "val_acc_best": 0.902, "best_epoch": 4, "val_acc_last": 0.889}
    assert run_summary_line({**metrics, "wall_s": 46.2}, Path("out")) == (
        "vgg16/mixed: best val acc 0.902 at epoch 4, last 0.889, 46 s, outputs in out"
    )


@pytest.mark.slow
def test_a_run_prints_a_compact_config_and_none_of_the_noise_about_intended_behaviour(tiny_data, tmp_path):
    """Issue 23 item 6: the changed settings instead of ~110 lines of YAML, no warning about the frozen layers'
    eval mode or about an unused `srun` (a fake one is on PATH), no Testing bar or checkpoint-reload lines,
    and the final pass said in words."""
    run_dir, bin_dir = tmp_path / "run", tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "srun").chmod(0o755)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env.pop("TL_QUIET", None)
    env.pop("SLURM_NTASKS", None)
    args = ["debug=fast", "arch.weights=none", "arch.image_size=64", f"data.root={tiny_data}"]
    done = subprocess.run(
        [sys.executable, "-m", "tl_lightning", *args, f"hydra.run.dir={run_dir}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    console = done.stdout + done.stderr
    lines = done.stdout.splitlines()
    config = lines[: next(i for i, line in enumerate(lines) if line.startswith("full config:")) + 1]
    assert config[0] == f"alexnet/extractor, seed 0, outputs in {run_dir}; settings that differ from the defaults:"
    assert config[1:8] == [
        "  arch.weights: none",
        "  arch.image_size: 64",
        f"  data.root: {tiny_data}",
        "  data.num_workers: 0",
        "  trainer.max_epochs: 1",
        "  trainer.limit_train_batches: 1",
        "  trainer.limit_val_batches: 1",
    ]
    assert config[8:] == [f"full config: {run_dir / '.hydra' / 'config.yaml'}"]
    for noise in ("in eval mode", "`srun`", "Restoring states", "Loaded model weights", "Testing", "logging interval"):
        assert noise not in console, noise
    assert "Final pass: scoring every val image with the best checkpoint (epoch 1, val acc" in console


def test_the_config_shows_a_changed_optimizer_setting_once(tmp_path):
    cfg = compose_cfg(["optimizer.lr=0.01", "scheduler.gamma=0.5"], tmp_path)
    lines = config_lines(cfg, tmp_path, default_config())
    assert lines == [
        f"alexnet/extractor, seed 0, outputs in {tmp_path}; settings that differ from the defaults:",
        "  optimizer.lr: 0.01",
        f"  paths.log_dir: {tmp_path}",  # compose_cfg's
        "  scheduler.gamma: 0.5",
    ]  # not again under model.optimizer / model.scheduler, which only point at them
