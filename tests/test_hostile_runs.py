"""Hostile inputs to a run's folder: resuming another experiment, plateaus, re-runs, two runs, kills mid-write."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import write_image_folder
from test_resume import cli_overrides, launch
from tl_lightning.model.checkpoint import CheckpointError
from tl_lightning.run.folder.lock import RunFolderBusyError, run_folder_lock
from tl_lightning.run.train import train

REPO = Path(__file__).resolve().parents[1]


def test_resume_refuses_a_checkpoint_of_another_experiment_naming_the_differences(make_cfg):
    train(make_cfg("alexnet", "finetune"))
    cfg = make_cfg("alexnet", "finetune", "resume=true", "seed=1", "optimizer.lr=0.001", "trainer.max_epochs=2")
    (Path(cfg.paths.output_dir) / "metrics.json").unlink()  # as if killed
    with pytest.raises(CheckpointError) as err:
        train(cfg)
    message = str(err.value)
    assert "seed: checkpoint 0, this run 1" in message
    assert "optimizer.lr: checkpoint 0.0001, this run 0.001" in message
    assert "data.batch_size" not in message and "trainer.max_epochs" not in message


def test_resume_refuses_renamed_classes(tmp_path, make_cfg):
    data = write_image_folder(tmp_path / "data", {"train": 3, "val": 2})
    first = make_cfg("alexnet", "finetune", f"data.root={data}")
    train(first)
    (Path(first.paths.output_dir) / "metrics.json").unlink()
    for split in ("train", "val"):
        (data / split / "bees").rename(data / split / "wasps")
    with pytest.raises(CheckpointError, match=r"classes: checkpoint \['ants', 'bees'\], this run \['ants', 'wasps'\]"):
        train(make_cfg("alexnet", "finetune", f"data.root={data}", "resume=true"))


@pytest.mark.slow
def test_last_ckpt_is_the_last_epoch_of_a_plateaued_run(make_cfg):
    # A learning rate this small leaves every prediction, so val/acc, unchanged: it never improves after epoch 1.
    cfg = make_cfg("alexnet", "finetune", "optimizer.lr=1e-30", "trainer.max_epochs=3")
    metrics = train(cfg)
    assert len(set(metrics["val_acc"])) == 1
    folder = Path(cfg.paths.output_dir) / "checkpoints"
    assert torch.load(folder / "best.ckpt", weights_only=True)["epoch"] == 0
    assert torch.load(folder / "last.ckpt", weights_only=True)["epoch"] == 2

    more = make_cfg("alexnet", "finetune", "optimizer.lr=1e-30", "trainer.max_epochs=4", "resume=true")
    (Path(more.paths.output_dir) / "metrics.json").unlink()
    assert train(more)["val_acc"] == metrics["val_acc"] + metrics["val_acc"][:1]  # resumed after epoch 3


def test_a_rerun_into_its_folder_overwrites_checkpoints_instead_of_writing_v1(make_cfg):
    cfg = make_cfg("alexnet", "extractor")
    train(cfg)
    (Path(cfg.paths.output_dir) / "metrics.json").unlink()
    train(make_cfg("alexnet", "extractor"))
    names = sorted(p.name for p in (Path(cfg.paths.output_dir) / "checkpoints").iterdir())
    assert names == ["best.ckpt", "last.ckpt"]


def test_resume_takes_the_newest_last_checkpoint(make_cfg, capsys):
    cfg = make_cfg("alexnet", "finetune")
    train(cfg)
    folder = Path(cfg.paths.output_dir) / "checkpoints"
    (Path(cfg.paths.output_dir) / "metrics.json").unlink()
    os.utime(folder / "last.ckpt", ns=(1, 1))  # older than the -v1 file an older version of a re-run wrote
    shutil.copy(folder / "best.ckpt", folder / "last-v1.ckpt")
    train(make_cfg("alexnet", "finetune", "resume=true", "trainer.max_epochs=2"))
    assert f"Resuming from {folder / 'last-v1.ckpt'}" in capsys.readouterr().out


@pytest.mark.slow
def test_a_second_run_into_a_busy_run_folder_is_refused(tiny_data, tmp_path):
    run_dir = tmp_path / "run"
    args = [*cli_overrides(tiny_data), f"hydra.run.dir={run_dir}"]
    first = launch(args, tmp_path)
    try:
        deadline = time.monotonic() + 180
        while not (run_dir / "paused").exists():
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()[0][-3000:]
            time.sleep(0.1)
        second = launch([*args, "trainer.max_epochs=1"], tmp_path)
        output = second.communicate(timeout=300)[0]
        assert second.returncode != 0, output[-3000:]
        assert f"Run folder {run_dir} is in use by pid {first.pid}" in output
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate()
    assert not (run_dir / "metrics.json").exists()


SAVE_CHECKPOINTS = """
import os, resource, signal, sys, threading, time, torch
from hydra.utils import instantiate
from conftest import compose_cfg
from tl_lightning.run.inputs.choose import trainer_conf
path, how = sys.argv[1], sys.argv[3]
io = instantiate(trainer_conf(compose_cfg(["trainer=cpu"], sys.argv[2]))).strategy.checkpoint_io
io.save_checkpoint({"x": torch.zeros(10)}, path)
old = os.stat(path).st_size


def kill_once_the_file_changes():  # a kill -9 at the first moment the checkpoint file is not the old one
    while True:
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            size = -1
        if size != old:
            os.kill(os.getpid(), signal.SIGKILL)


if how == "kill":
    threading.Thread(target=kill_once_the_file_changes, daemon=True).start()
else:  # a full disk: writing past 200 kB fails (SIGXFSZ ignored, so the write raises)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
io.save_checkpoint({"x": torch.ones(25_000_000)}, path)
time.sleep(10)
"""


@pytest.mark.slow
@pytest.mark.parametrize("how", ["kill", "full-disk"])
def test_a_kill_or_full_disk_during_a_checkpoint_write_keeps_a_whole_checkpoint(tmp_path, how):
    # The temp dir on another filesystem (tmpfs) than the run folder is the case that lost checkpoints: Lightning
    # wrote there and then copied over the target, which a kill interrupts half-way.
    other_fs = Path("/dev/shm")
    if not other_fs.is_dir():
        pytest.skip("no /dev/shm")
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    env = {**os.environ, "TMPDIR": str(other_fs), "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO / 'tests'}"}
    args = [sys.executable, "-c", SAVE_CHECKPOINTS, str(ckpt), str(tmp_path / "run"), how]
    proc = subprocess.run(args, env=env, capture_output=True, timeout=300)
    assert proc.returncode == (-signal.SIGKILL if how == "kill" else 1), proc.stderr.decode()[-3000:]
    if how == "full-disk":
        assert f"Cannot write {ckpt}: the disk is full (the previous version of the file" in proc.stderr.decode()
    saved = torch.load(ckpt, weights_only=True)["x"]  # whole: the old checkpoint, or (killed after) the new one
    assert torch.equal(saved, torch.zeros(10) if how == "full-disk" else torch.ones(25_000_000))
    left = sorted(p.name for p in ckpt.parent.iterdir())
    assert left == ["last.ckpt"]  # a failed write removes its temp file


def test_an_unreadable_metrics_json_is_named_on_resume(make_cfg):
    cfg = make_cfg("alexnet", "extractor")
    train(cfg)
    (Path(cfg.paths.output_dir) / "metrics.json").write_text('{"epochs": 1, "val_a')  # cut short
    with pytest.raises(
        CheckpointError,
        match=r"metrics.json cannot be used \(metrics.json unreadable: .* delete it to let resume=true continue",
    ):
        train(make_cfg("alexnet", "extractor", "resume=true"))


def test_a_run_killed_with_sigkill_leaves_no_stale_lock(tmp_path):
    code = "import sys, time; from pathlib import Path; from tl_lightning.run.folder.lock import run_folder_lock\n"
    code += "with run_folder_lock(Path(sys.argv[1])):\n    print('locked', flush=True); time.sleep(60)\n"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], env=env, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(RunFolderBusyError), run_folder_lock(tmp_path):
        pass
    holder.kill()
    holder.wait()
    with run_folder_lock(tmp_path):  # the OS released the dead process's lock
        assert (tmp_path / ".tl-run.lock").read_text() == f"pid {os.getpid()}\n"
