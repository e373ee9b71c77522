"""Issue 30, items 8 and 11: a full disk ends a run in one line and leaves it resumable; twin class names are told
apart in figures; a resumed run holds one Projector embedding."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.compat.tensorflow_stub.io.gfile import LocalFileSystem

import tl_lightning
from tl_lightning.errors import BAD_INPUT_EXIT
from tl_lightning.report.plots import confusion_figure
from tl_lightning.run.folder import failures
from tl_lightning.run.observe.tensorboard import RunTensorBoardLogger
from tl_lightning.run.outputs.projector import write_embedding
from tl_lightning.run.train import train

NFC, NFD = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")


def test_nfc_and_nfd_twins_are_two_labels_in_the_confusion_matrix():
    rows = [{"true": NFC, "pred": NFC}, {"true": NFD, "pred": NFC}, {"true": "ants", "pred": "ants"}]
    ax = confusion_figure(rows, "twins").axes[0]
    for labels in (ax.get_xticklabels(), ax.get_yticklabels()):
        texts = [t.get_text() for t in labels]
        assert len(set(texts)) == 3, texts  # drawn alike before: "café", "café"
        assert texts == [f"{NFC} [NFC]", f"{NFD} [NFD]", "ants"]


def _embed(logdir: Path, step: int) -> Path:
    return write_embedding(
        logdir, "val", step, torch.rand(4, 3), [["a", "b"]] * 4, ["class", "pred"], torch.rand(4, 3, 8, 8)
    )


def test_a_resumed_run_holds_one_projector_embedding(tmp_path):
    old = _embed(tmp_path, 3)  # the attempt that was killed after explaining itself at epoch 3
    new = _embed(tmp_path, 5)  # the resumed run, explained at epoch 5
    assert not old.exists() and not old.parent.exists()
    assert sorted(p.name for p in new.iterdir()) == ["metadata.tsv", "sprite.png", "tensors.tsv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00005", "projector_config.pbtxt"]


def test_only_the_projectors_own_files_are_removed(tmp_path):
    old = _embed(tmp_path, 3)
    (old / "notes.txt").write_text("mine\n")  # not written by the package: stays, and so does its folder
    _embed(tmp_path, 5)
    assert sorted(p.name for p in old.iterdir()) == ["notes.txt"]
    assert _embed(tmp_path, 5).is_dir()  # the same epoch again: rewritten in place


def _disk_fills_at_the_run_summary(monkeypatch) -> None:
    """From the run's TensorBoard summary on, each event-file append writes half its bytes, then ENOSPC."""
    full = []

    def append(self, filename, file_content, binary_mode=False):
        if not full:
            return real_append(self, filename, file_content, binary_mode)
        with open(filename, "ab") as f:
            f.write(bytes(file_content)[: len(file_content) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    def summary(*args, **kwargs):
        full.append(True)
        return real_summary(*args, **kwargs)

    real_append, real_summary = LocalFileSystem.append, RunTensorBoardLogger.log_run_hparams
    monkeypatch.setattr(LocalFileSystem, "append", append)
    monkeypatch.setattr(RunTensorBoardLogger, "log_run_hparams", summary)


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")  # the writer thread is quiet
def test_a_full_disk_at_tensorboards_last_flush_is_one_line_and_the_run_resumes(make_cfg, monkeypatch, capsys):
    cfg = make_cfg("alexnet", "extractor", "explain=false")
    out = Path(cfg.paths.output_dir)
    with monkeypatch.context() as patch:
        _disk_fills_at_the_run_summary(patch)
        with pytest.raises(SystemExit) as stop:
            failures.run_task(cfg, train)
    assert stop.value.code == BAD_INPUT_EXIT
    err = capsys.readouterr().err
    assert "error: Cannot write to the disk: the disk is full (No space left on device); free space, then " in err
    assert "continue the run with: python -m tl_lightning" in err and "resume=true" in err
    assert "Traceback" not in err and not (out / "metrics.json").exists()
    from tl_lightning.run.folder import event_files  # here: the module is new, and main runs the other tests too

    events = sorted(out.glob("events.out.tfevents.*"))
    assert all(event_files.whole_records_size(p) == p.stat().st_size for p in events)  # no record cut short
    assert max(sum(1 for _ in EventFileLoader(str(p)).Load()) for p in events) > 2  # the epochs' scalars are kept
    assert failures.run_task(make_cfg("alexnet", "extractor", "explain=false", "resume=true"), train) is not None
    assert (out / "metrics.json").is_file()


# Hydra's _save_config on a full disk: open(..., "w") truncates, the write fails (at the flush of the close).
FULL_AT_START = """
import errno, sys
import hydra.core.utils

def save_config(cfg, filename, output_dir):
    output_dir.mkdir(parents=True, exist_ok=True)
    open(output_dir / filename, "w").close()
    raise OSError(errno.ENOSPC, "No space left on device")

hydra.core.utils._save_config = save_config
sys.argv = ["tl_lightning", *sys.argv[1:]]
from tl_lightning.run.cli import main
main()
"""


def _start_on_a_full_disk(tiny_data: Path, run_dir: Path, *extra: str) -> str:
    args = [sys.executable, "-c", FULL_AT_START, "arch.weights=none", "trainer=cpu", f"data.root={tiny_data}"]
    env = {**os.environ, "PYTHONPATH": str(Path(tl_lightning.__file__).parents[1]), "PYTHONWARNINGS": "ignore"}
    env.pop("HYDRA_FULL_ERROR", None)
    done = subprocess.run([*args, f"hydra.run.dir={run_dir}", *extra], env=env, capture_output=True, text=True)
    assert done.returncode == BAD_INPUT_EXIT and "Traceback" not in done.stderr, done.stderr[-3000:]
    return [line for line in done.stderr.splitlines() if line.strip()][-1]


@pytest.mark.slow
def test_a_disk_full_at_the_start_is_one_line_and_leaves_nothing(tiny_data, tmp_path):
    line = _start_on_a_full_disk(tiny_data, tmp_path / "outputs" / "run")
    said = "error: Cannot write to the disk: the disk is full (No space left on device); free space and run the"
    assert line == f"{said} same command again"
    assert not (tmp_path / "outputs").exists()  # no empty .hydra/, no 0-byte train.log, no folders made for them


@pytest.mark.slow
def test_a_disk_full_at_a_resumes_start_keeps_the_runs_record(tiny_data, tmp_path):
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text("the run's own config\n")
    (run / "train.log").write_text("the first attempt's log\n")
    _start_on_a_full_disk(tiny_data, run, "resume=true")
    assert (run / ".hydra" / "config.yaml").read_text() == "the run's own config\n"  # put back, not left empty
    assert (run / "train.log").read_text() == "the first attempt's log\n"
    assert sorted(p.name for p in (run / ".hydra").iterdir()) == ["config.yaml"]
