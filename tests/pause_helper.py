"""Test helper for the kill-and-resume tests: a callback that parks a training run to be killed."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import lightning as L


class PauseAt(L.Callback):
    """At (epoch, batch), once per run dir: write <run dir>/paused, then wait to be killed.

    The batch before it has trained, so the kill lands mid-epoch with RNG draws and weight updates
    that the last checkpoint does not hold. `only_in` picks one run of a sweep by its dir-name prefix
    (the job number, e.g. "1_").
    """

    def __init__(self, epoch: int = 1, batch: int = 1, only_in: str = "") -> None:
        self.epoch, self.batch, self.only_in = epoch, batch, only_in

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        run_dir = Path(trainer.default_root_dir)
        marker = run_dir / "paused"
        if (trainer.current_epoch, batch_idx) != (self.epoch, self.batch) or not run_dir.name.startswith(self.only_in):
            return
        if marker.exists():  # the resumed run goes on
            return
        marker.touch()
        deadline = time.monotonic() + 120
        # Lightning's SIGTERM handler only sets a flag; stop waiting so it can act on it.
        while not trainer.received_sigterm:
            if time.monotonic() > deadline:
                raise RuntimeError(f"PauseAt: {run_dir} was not killed within 120 s")
            time.sleep(0.05)


class TermDuringLastTestBatch(L.Callback):
    """Send this process a SIGTERM at the end of the last test batch, where Lightning only sets a flag."""

    def on_test_batch_end(self, trainer: L.Trainer, *args, **kwargs) -> None:
        if trainer.test_loop.batch_progress.is_last_batch:
            os.kill(os.getpid(), signal.SIGTERM)


class SlowEpochs(L.Callback):
    """Sleep after every train epoch of a job's first attempt: a run that outlasts a short SLURM time limit
    once (a requeued attempt, SLURM_RESTART_COUNT > 0, runs at full speed), with unchanged numbers."""

    def __init__(self, seconds: float = 20.0) -> None:
        self.seconds = seconds

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if os.environ.get("SLURM_RESTART_COUNT", "0") == "0":
            time.sleep(self.seconds)


class PauseInFrozenPass(L.Callback):
    """Park the frozen-layer pass (before fit, where Lightning does not handle SIGTERM) to be killed there."""

    def __init__(self) -> None:
        from tl_lightning.features import passes

        def parked(model, tap, loader, *args, **kwargs):
            dataset = getattr(loader.dataset, "dataset", loader.dataset)  # a Subset of a folder when part is stored
            (Path(dataset.samples[0][0]).parents[3] / "frozen-pass").touch()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                time.sleep(0.05)
            raise RuntimeError("PauseInFrozenPass: not killed within 120 s")

        passes.capture_inputs = parked


class WaitFor(L.Callback):
    """When training starts in a run folder named TL_TEST_WAIT_IN* (a sweep's job-number prefix, e.g. "0_"):
    write <run dir>/waiting, then wait until the file TL_TEST_GO exists (at most 300 s) and go on. Read from
    the environment, so no path ends up in a sweep's job folder names."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        run_dir = Path(trainer.default_root_dir)
        if not run_dir.name.startswith(os.environ.get("TL_TEST_WAIT_IN", "")):
            return
        (run_dir / "waiting").touch()
        go, deadline = Path(os.environ["TL_TEST_GO"]), time.monotonic() + 300
        while not go.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"WaitFor: {go} did not appear within 300 s")
            time.sleep(0.05)
