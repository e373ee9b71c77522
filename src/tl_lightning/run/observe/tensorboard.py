"""TensorBoard that reads at a glance: a chart per split and quantity with every run on it (custom scalars),
epochs as the step of every scalar (the lr too), and an HParams table whose ticked columns are the settings
that define a run (arch, strategy, unfreeze, init_weights, input; lr, seed, batch size) with its outcome.

conf/logger/tensorboard.yaml builds `RunTensorBoardLogger`; `write_run_summary` (called from
run/train.py's write_artifacts) adds the predictions grid and the run's hparams when it has finished.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import lightning as L
import numpy as np
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig
from tensorboard.summary.writer.event_file_writer import _AsyncWriterThread
from torch.utils.tensorboard.summary import hparams as hparams_summary

from tl_lightning.run.outputs import artifacts

# Custom scalars colour lines by run only, so train and val get charts of their own, titled by split; every
# run is a line on each. Multiline takes tag regexes.
LAYOUT = {
    "accuracy per split (one line per run)": {
        "train accuracy": ["Multiline", [r"^train/acc$"]],
        "val accuracy": ["Multiline", [r"^val/acc$"]],
    },
    "loss per split (one line per run)": {
        "train loss": ["Multiline", [r"^train/loss$"]],
        "val loss": ["Multiline", [r"^val/loss$"]],
    },
    "learning rate": {"learning rate per epoch": ["Multiline", [r"^lr-"]]},
}


class EpochLearningRateMonitor(LearningRateMonitor):
    """Lightning's LearningRateMonitor logging the lr each epoch at that epoch (from 1, like every other chart)
    rather than at the optimizer step count: it passes the epoch the way Lightning's own metrics do."""

    def on_train_epoch_start(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        stats = self._extract_stats(trainer, "epoch" if self.logging_interval is None else "any")
        if stats:
            for logger in trainer.loggers:
                logger.log_metrics({**stats, "epoch": trainer.current_epoch}, step=trainer.current_epoch)


class RunTensorBoardLogger(TensorBoardLogger):
    """Lightning's TensorBoard logger with epoch-level scalars stepped by epoch (from 1, as metrics.json), and
    without Lightning's automatic hparams (the module's ~70 init arguments, `_target_` paths included)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if threading.excepthook is not _quiet_writer_thread:
            _HOOKS.append(threading.excepthook)
            threading.excepthook = _quiet_writer_thread

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        # Lightning adds the 0-based `epoch` to every dict it logs; every metric of this package is per epoch.
        metrics = dict(metrics)
        epoch = metrics.pop("epoch", None)
        super().log_metrics(metrics, int(epoch) + 1 if epoch is not None else step)

    @rank_zero_only
    def log_hyperparams(self, params: Any, metrics: dict | None = None, step: int | None = None) -> None:
        # Lightning's own call at fit start: write the chart layout instead; write_run_summary logs the hparams.
        self.experiment.add_custom_scalars(LAYOUT)

    @rank_zero_only
    def log_run_hparams(self, params: dict[str, Any], metrics: dict[str, float], step: int) -> None:
        """The session's hparams and metrics, without an experiment summary: TensorBoard then builds the table
        from all runs and puts the settings that differ between them (arch, strategy, ...) in its first,
        visible columns; with each run's own summary it shows the first five by name and hides `strategy`."""
        _, session_start, session_end = hparams_summary(params, metrics)
        writer = self.experiment._get_file_writer()
        writer.add_summary(session_start)
        writer.add_summary(session_end)
        self.log_metrics(metrics, step)
        self.hparams.update(params)  # hparams.yaml


_HOOKS: list[Any] = []  # the excepthook before _quiet_writer_thread


def _quiet_writer_thread(args: threading.ExceptHookArgs) -> None:
    """TensorBoard's writer thread ends on a write error (a full disk) with a traceback on stderr, and the main
    thread raises the same error at its next flush, which the run reports in one line: the thread keeps quiet."""
    if isinstance(args.thread, _AsyncWriterThread) and isinstance(args.exc_value, OSError):
        return
    _HOOKS[0](args)


def run_hparams(cfg: DictConfig, metrics: dict) -> dict[str, Any]:
    """The HParams table's setting columns. TensorBoard ticks only the first five (those that differ between
    runs first, then by name), so there are five, plus `user_tags` (last by name) when the run has tags, and the
    numeric settings are metric columns (`settings`)."""
    recorded = metrics.get("settings") or {}
    params = {
        "arch": cfg.arch.name,
        "strategy": cfg.strategy.name,
        "unfreeze": str(metrics.get("unfreeze")),
        # Not `weights`: by name it would sort after `user_tags` and lose its ticked place to it.
        "init_weights": weights_label(recorded, cfg),
        # The image size and the regime the run recorded (plain / views-K / fresh), as metrics.json says them.
        "input": f"{int(cfg.arch.image_size)} px, {recorded.get('augmentation', 'unknown')}",
    }
    if metrics.get("tags"):
        params["user_tags"] = ",".join(metrics["tags"])
    return params


def weights_label(recorded: dict, cfg: DictConfig) -> str:
    """One value per weights: a folder and the file in it give the same file name and hash."""
    sha = recorded.get("weights_sha256")
    name = recorded.get("weights", str(cfg.arch.weights).lower())
    return f"{name} (sha256 {sha[:12]})" if sha else str(name)


def settings(cfg: DictConfig) -> dict[str, float]:
    """Numeric settings as metric columns: sorted by name they come first, so TensorBoard ticks them with the
    two accuracies (it ticks the first five metrics)."""
    return {
        "hparams/batch_size": float(cfg.data.batch_size),
        "hparams/lr": float(cfg.optimizer.lr),
        "hparams/seed": float(cfg.seed),
    }


def outcome(metrics: dict) -> dict[str, float]:
    """The HParams table's outcome columns."""
    nan = float("nan")
    val_loss = metrics.get("val_loss") or [nan]
    return {
        "hparams/val_acc_best": _num(metrics.get("val_acc_best")),
        "hparams/val_acc_last": _num(metrics.get("val_acc_last")),
        "hparams/val_loss_final": _num(val_loss[-1]),
    }


def short_name(cfg: DictConfig, metrics: dict) -> str:
    """`alexnet/mixed k=2 s0`: unique within a sweep over archs, strategies, unfreeze and seeds."""
    unfreeze = f" k={metrics.get('unfreeze')}" if cfg.strategy.name == "mixed" else ""
    return f"{cfg.arch.name}/{cfg.strategy.name}{unfreeze} s{cfg.seed}"


def write_run_summary(logger: TensorBoardLogger, cfg: DictConfig, metrics: dict, grid: np.ndarray | None) -> None:
    """The predictions grid (artifacts.pixels; None: it did not draw) at the run's last epoch, and the run's
    hparams with their outcome."""
    epochs = int(metrics.get("epochs") or 0)
    if grid is not None:  # the hparams below stand without it
        draw = lambda: logger.experiment.add_image("val/predictions", grid, epochs, dataformats="HWC")  # noqa: E731
        artifacts.drawn(metrics, "TensorBoard val/predictions", draw)
    if isinstance(logger, RunTensorBoardLogger):
        logger.log_run_hparams(run_hparams(cfg, metrics), {**settings(cfg), **outcome(metrics)}, step=epochs)
    else:  # a plain TensorBoardLogger chosen in the config still gets the short table
        logger.log_hyperparams(run_hparams(cfg, metrics), {**settings(cfg), **outcome(metrics)})
    logger.finalize("success")


def _num(value: object) -> float:
    return float(value) if value is not None else float("nan")
