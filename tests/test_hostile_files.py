"""Hostile files handed to the package: poisoned checkpoints under a permissive torch, NaN and truncated
weights, its own best.ckpt as weights, and file and class names that are not valid UTF-8."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import write_image_folder
from tl_lightning.files import OutputFolderError, atomic_write
from tl_lightning.model.checkpoint import CheckpointError
from tl_lightning.run.config.checks import ConfigError
from tl_lightning.run.outputs import artifacts
from tl_lightning.run.train import train

REPO = Path(__file__).resolve().parents[1]


def run_module(module: str, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO / 'tests'}", **env}
    cmd = [sys.executable, "-m", module, *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("tool", ["predict", "export"])
def test_a_poisoned_checkpoint_runs_no_code_even_when_torch_is_told_to_unpickle_anything(tmp_path, tiny_data, tool):
    marker = tmp_path / "code-ran"
    ckpt = tmp_path / "evil.ckpt"
    # Unpickling this with weights_only=False calls Path.touch(marker): proof that the file ran code.
    payload = type("Payload", (), {"__reduce__": lambda self: (Path.touch, (marker,))})()
    torch.save({"state_dict": {}, "hyper_parameters": {"arch": "alexnet"}, "x": payload}, ckpt)
    args = [f"ckpt={ckpt}"] + ([f"input={tiny_data / 'val'}"] if tool == "predict" else [f"out={tmp_path / 'x'}"])
    proc = run_module(f"tl_lightning.{tool}", *args, cwd=tmp_path, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1")
    assert proc.returncode != 0
    assert f"ckpt={ckpt} was refused" in proc.stdout + proc.stderr
    assert not marker.exists()


def features_of(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.features.")}


def test_nan_weights_are_named_as_a_corrupt_file_before_training(make_cfg, tmp_path):
    first = make_cfg("alexnet", "extractor")
    train(first)
    state = features_of(torch.load(Path(first.paths.output_dir) / "checkpoints" / "best.ckpt")["state_dict"])
    state["features.3.weight"][0, 0, 0, 0] = float("nan")
    path = tmp_path / "nan.pth"
    torch.save(state, path)
    with pytest.raises(ConfigError, match=rf"arch.weights: {path} holds NaN or infinite values in features.3.weight"):
        train(make_cfg("alexnet", "extractor", f"arch.weights={path}"))


def test_a_checkpoint_with_nan_weights_is_not_resumed(make_cfg):
    cfg = make_cfg("alexnet", "finetune")
    train(cfg)
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(last, weights_only=True)
    checkpoint["state_dict"]["model.features.0.bias"][0] = float("inf")
    torch.save(checkpoint, last)
    (Path(cfg.paths.output_dir) / "metrics.json").unlink()
    with pytest.raises(CheckpointError, match=r"holds NaN or infinite weights \(model.features.0.bias\)"):
        train(make_cfg("alexnet", "finetune", "resume=true", "trainer.max_epochs=2"))


def test_the_packages_own_best_ckpt_is_accepted_as_arch_weights(make_cfg):
    first = make_cfg("alexnet", "finetune")
    train(first)
    best = Path(first.paths.output_dir) / "checkpoints" / "best.ckpt"
    again = make_cfg("alexnet", "extractor", f"arch.weights={best}")
    assert train(again)["epochs"] == 1


@pytest.mark.slow
@pytest.mark.parametrize("keep", [0, 10, 1000, 0.5])
def test_a_truncated_checkpoint_is_named_as_truncated(make_cfg, keep):
    cfg = make_cfg("alexnet", "finetune")
    train(cfg)
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    data = last.read_bytes()
    last.write_bytes(data[: int(len(data) * keep) if isinstance(keep, float) else keep])
    (Path(cfg.paths.output_dir) / "metrics.json").unlink()
    with pytest.raises(Exception, match="cannot be read: truncated or not a PyTorch file"):
        train(make_cfg("alexnet", "finetune", "resume=true", "trainer.max_epochs=2"))


@pytest.mark.slow
def test_names_that_are_not_utf8_round_trip_through_every_artifact(tmp_path):
    root = write_image_folder(tmp_path / "data", {"train": 2, "val": 2})
    odd_class, odd_file = b'b\xffes, "q"\nx', b'a\xe9\n,"\\.jpg'
    for split in ("train", "val"):
        os.rename(os.fsencode(root / split / "bees"), os.path.join(os.fsencode(root / split), odd_class))
    os.rename(os.fsencode(root / "val" / "ants" / "ants_0.jpg"), os.path.join(os.fsencode(root / "val/ants"), odd_file))
    run_dir = tmp_path / "run"
    args = ["arch.weights=none", "arch.image_size=64", f"data.root={root}", "data.num_workers=0", "trainer=cpu"]
    args += ["trainer.max_epochs=1", f"hydra.run.dir={run_dir}"]
    proc = run_module("tl_lightning", *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(run_dir / "val_predictions.csv", newline="", encoding="utf-8", errors="surrogateescape") as f:
        rows = list(csv.DictReader(f))
    listed = {os.path.join(dirpath, n) for dirpath, _, names in os.walk(root / "val") for n in names}
    assert {r["path"] for r in rows} == listed
    assert {r["true"] for r in rows} == {"ants", os.fsdecode(odd_class)}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["train_class_counts"] == {"ants": 2, os.fsdecode(odd_class): 2}
    assert (run_dir / "predictions.png").stat().st_size > 0


def test_artifact_writers_name_an_unwritable_output_folder(tmp_path):
    (tmp_path / "run").write_text("a file where the run folder should be")
    with pytest.raises(OutputFolderError, match=r"Cannot write .*run/metrics.json: a file is in the way of its folder"):
        artifacts.write_json(tmp_path / "run" / "metrics.json", {"epochs": 1})


def test_an_artifact_write_that_fails_half_way_keeps_the_previous_file(tmp_path):
    path = tmp_path / "val_predictions.csv"
    path.write_text("previous\n")

    def fail_half_way(f) -> None:
        f.write(b"half of a new fi")
        raise OSError(28, "No space left on device")

    with pytest.raises(OutputFolderError, match=r"the disk is full \(the previous version of the file, if any, is"):
        atomic_write(path, fail_half_way)
    assert path.read_text() == "previous\n" and [p.name for p in tmp_path.iterdir()] == ["val_predictions.csv"]
