"""Console scripts, the CSV logger beside TensorBoard, quiet mode, and the prefetch command."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from importlib import import_module
from pathlib import Path

import pytest
import torchvision

import tl_lightning.__main__ as package_main
from conftest import WEIGHTS, requires
from tl_lightning import progress
from tl_lightning.run.cli import main
from tl_lightning.run.train import train
from tl_lightning.tools import prefetch
from tl_lightning.tools.cli import UsageError

ROOT = Path(__file__).resolve().parents[1]


def test_console_scripts_point_at_the_module_entry_points():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["tl-lightning"] == "tl_lightning.run.cli:main"
    assert package_main.main is main  # so tl-lightning == python -m tl_lightning
    for target in scripts.values():
        module, _, name = target.partition(":")
        assert callable(getattr(import_module(module), name)), target


def test_console_script_wrapper_exits_zero():
    # What pip's generated `tl-lightning` does: sys.exit(main()); Hydra's main must not return a float there.
    code = "import sys; from tl_lightning.run.cli import main; sys.exit(main())"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", code, "--cfg", "job"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "name: alexnet" in done.stdout


def test_csv_logger_beside_tensorboard_and_quiet_mode(make_cfg, capfd, monkeypatch):
    monkeypatch.setattr(progress, "_state", {"quiet": False})
    cfg = make_cfg("alexnet", "extractor", "logger=[tensorboard,csv]", "quiet=true")
    metrics = train(cfg)
    out = Path(cfg.paths.output_dir)
    with open(out / "csv" / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    val = [float(r["val/acc"]) for r in rows if r.get("val/acc")]
    assert val == pytest.approx(metrics["val_acc"])
    assert list(out.glob("events.out.tfevents*")) and (out / "predictions.png").is_file()
    assert "Frozen layers: one pass" not in capfd.readouterr().err

    # Its own run dir, and its own pass: the feature store of earlier tests must not stand in for it.
    loud = make_cfg("alexnet", "mixed", "logger=csv", "quiet=false", "cache.features=false")
    train(loud)
    assert "Frozen layers: one pass over 12 images" in capfd.readouterr().err
    assert not list(Path(loud.paths.output_dir).glob("events.out.tfevents*"))


@requires(WEIGHTS / "mobilenet_v2-b0353104.pth")
def test_prefetch_fills_the_caches_and_says_where(tiny_data: Path, tmp_path: Path, monkeypatch, capsys):
    # Offline here: the weights file is already in the torchvision cache, so nothing is downloaded.
    # (The shared file is the V1 weights; torchvision's default is V2, so it stands in under V2's file name.)
    checkpoints = tmp_path / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    cached = checkpoints / os.path.basename(torchvision.models.get_model_weights("mobilenet_v2").DEFAULT.url)
    cached.symlink_to(WEIGHTS / "mobilenet_v2-b0353104.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("TL_DATA_DIR", str(tiny_data))
    assert prefetch.main(["arch=mobilenet_v2"]) == 0
    out = capsys.readouterr().out
    assert f"dataset: {tiny_data}" in out and str(cached) in out
    assert f"TL_DATA_DIR={tiny_data}" in out and f"TORCH_HOME={tmp_path / 'torch'}" in out


@pytest.mark.parametrize(("arch", "why"), [("torchvision", "name the torchvision model"), ("nope", "arch=nope")])
def test_prefetch_refuses_unknown_archs_before_downloading(arch, why, tmp_path):
    with pytest.raises(UsageError, match=why):
        prefetch.prefetch([arch], tmp_path / "never-created")
    assert not (tmp_path / "never-created").exists()
    assert prefetch.arch_name("mobilenet_v2") == "mobilenet_v2" and prefetch.arch_name("resnet50") == "resnet50"
