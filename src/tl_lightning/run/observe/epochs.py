"""What a run says on the console while it trains: one line per epoch (train and val loss and accuracy, as
the PyTorch tutorial prints them), a progress bar that counts epochs from 1 like metrics.json and the plots,
and one closing line per run.

Lines go through logging, so Hydra writes them to the console and to the run's train.log.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback, RichProgressBar, TQDMProgressBar
from lightning.pytorch.utilities.imports import _RICH_AVAILABLE

log = logging.getLogger(__name__)


class EpochLines(Callback):
    """`epoch 3/25  train loss 0.4121 acc 0.8123 | val loss 0.3010 acc 0.9020 | 4.1 s` per epoch.

    The module records train metrics in its own on_train_epoch_end, which Lightning calls after the callbacks'
    hook, so an epoch's line is written when the next epoch starts (or training ends).
    """

    def __init__(self) -> None:
        self._written = 0
        self._started = time.perf_counter()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._written = len(pl_module.history["train_loss"])  # a resumed run: earlier epochs were reported then

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._write_finished(trainer, pl_module)
        self._started = time.perf_counter()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._write_finished(trainer, pl_module)

    def _write_finished(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        history = pl_module.history
        while self._written < len(history["train_loss"]):
            i = self._written
            self._written += 1
            if trainer.is_global_zero:
                log.info(epoch_line(history, i, trainer.max_epochs, time.perf_counter() - self._started))


def epoch_line(history: dict[str, list[float]], i: int, max_epochs: int | None, seconds: float) -> str:
    """The line for 0-based epoch `i`, numbered from 1."""
    line = (
        f"epoch {i + 1}{_of(max_epochs)}  train loss {history['train_loss'][i]:.4f} acc {history['train_acc'][i]:.4f}"
    )
    if i < len(history["val_loss"]):
        line += f" | val loss {history['val_loss'][i]:.4f} acc {history['val_acc'][i]:.4f}"
    return f"{line} | {seconds:.1f} s"


def run_summary_line(metrics: dict, out: Path) -> str:
    """`best val acc 0.902 at epoch 4, last 0.889, 46 s, outputs in DIR` (epochs from 1)."""
    if metrics.get("val_acc_best") is None:
        return f"no validation epoch ran, {metrics['wall_s']:.0f} s, outputs in {out}"
    return (
        f"{metrics['arch']}/{metrics['strategy']}: best val acc {metrics['val_acc_best']:.3f} at epoch "
        f"{metrics['best_epoch']}, last {metrics['val_acc_last']:.3f}, {metrics['wall_s']:.0f} s, outputs in {out}"
    )


class RichBarFromOne(RichProgressBar):
    """Lightning's rich bar, saying `Epoch 1/25` for the first of 25 epochs (Lightning says `Epoch 0/24`)."""

    def _get_train_description(self, current_epoch: int) -> str:
        text = f"Epoch {current_epoch + 1}{_of(self.trainer.max_epochs)}"
        return f"{text:{len(self.validation_description)}}"  # same width as "Validation": no flicker


class TQDMBarFromOne(TQDMProgressBar):
    """Lightning's tqdm bar (without `rich`), numbering epochs from 1."""

    def on_train_epoch_start(self, trainer: L.Trainer, *args: object) -> None:
        super().on_train_epoch_start(trainer, *args)
        self.train_progress_bar.set_description(f"Epoch {trainer.current_epoch + 1}{_of(trainer.max_epochs)}")


def _of(max_epochs: int | None) -> str:
    return f"/{max_epochs}" if max_epochs and max_epochs > 0 else ""  # -1 / None: no limit


def progress_bar() -> Callback:
    return RichBarFromOne() if _RICH_AVAILABLE else TQDMBarFromOne()
