"""TensorBoard that reads at a glance: train and val on one chart (custom scalars), epochs as the step of
epoch-level scalars, and an HParams table of the settings that define a run with its outcome.

conf/logger/tensorboard.yaml builds `RunTensorBoardLogger`; `write_run_summary` (called from
run/train.py's write_artifacts) adds the predictions grid and the run's hparams when it has finished.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from matplotlib.figure import Figure
from omegaconf import DictConfig
from torch.utils.tensorboard.summary import hparams as hparams_summary

# One chart per quantity with both splits (Multiline takes tag regexes).
LAYOUT = {
    "train vs val": {
        "loss": ["Multiline", [r"^train/loss$", r"^val/loss$"]],
        "accuracy": ["Multiline", [r"^train/acc$", r"^val/acc$"]],
    }
}


class RunTensorBoardLogger(TensorBoardLogger):
    """Lightning's TensorBoard logger with epoch-level scalars stepped by epoch (from 1, as metrics.json), and
    without Lightning's automatic hparams (the module's ~70 init arguments, `_target_` paths included)."""

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


def run_hparams(cfg: DictConfig, metrics: dict) -> dict[str, Any]:
    """The settings that define a run: the HParams table's columns."""
    return {
        "run": short_name(cfg, metrics),
        "arch": cfg.arch.name,
        "strategy": cfg.strategy.name,
        "unfreeze": str(metrics.get("unfreeze")),
        "weights": str(cfg.arch.weights),
        "lr": float(cfg.optimizer.lr),
        "batch_size": int(cfg.data.batch_size),
        "epochs": int(metrics.get("epochs") or 0),
        "seed": int(cfg.seed),
        "image_size": int(cfg.arch.image_size),
        # The regime the run recorded (plain / views-K / fresh): one source for metrics.json and TensorBoard.
        "augmentation": str((metrics.get("settings") or {}).get("augmentation", "unknown")),
    }


def outcome(metrics: dict) -> dict[str, float]:
    """The HParams table's metric columns."""
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


def write_run_summary(logger: TensorBoardLogger, cfg: DictConfig, metrics: dict, grid: Figure) -> None:
    """The predictions grid at the run's last epoch, and the run's hparams with their outcome."""
    epochs = int(metrics.get("epochs") or 0)
    logger.experiment.add_figure("val/predictions", grid, global_step=epochs, close=False)
    if isinstance(logger, RunTensorBoardLogger):
        logger.log_run_hparams(run_hparams(cfg, metrics), outcome(metrics), step=epochs)
    else:  # a plain TensorBoardLogger chosen in the config still gets the short table
        logger.log_hyperparams(run_hparams(cfg, metrics), outcome(metrics))
    logger.finalize("success")


def _num(value: object) -> float:
    return float(value) if value is not None else float("nan")
