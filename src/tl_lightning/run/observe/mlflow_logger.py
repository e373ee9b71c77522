"""`logger=mlflow`: MLflow without a server. Runs go into one SQLite file beside the run folders
(<paths.log_dir>/mlflow.db; MLflow 3 refuses its old folder store) and their files into
<paths.log_dir>/mlartifacts; `mlflow ui --backend-store-uri sqlite:///outputs/mlflow.db` shows them.

Like the TensorBoard logger: metrics stepped by epoch (from 1), the short settings instead of Lightning's
automatic hparams (the module's ~70 init arguments), and the run's tags and figures when it has finished.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import MLFlowLogger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig

from tl_lightning.errors import UserError
from tl_lightning.run.observe.tensorboard import outcome, run_hparams

# What a finished run leaves for MLflow to show beside its metrics.
RUN_FILES = ("metrics.json", "loss_curves.png", "predictions.png", "val_predictions.csv")


class RunMLFlowLogger(MLFlowLogger):
    def __init__(self, store_dir: str, **kwargs: Any) -> None:
        if importlib.util.find_spec("mlflow") is None:
            raise UserError(
                "logger=mlflow needs the mlflow package, which is not installed: pip install 'tl_lightning[mlflow]'"
            )
        root = Path(store_dir).expanduser().resolve()  # SQLite URIs take absolute paths
        root.mkdir(parents=True, exist_ok=True)
        super().__init__(
            tracking_uri=f"sqlite:///{root / 'mlflow.db'}", artifact_location=str(root / "mlartifacts"), **kwargs
        )

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        metrics = dict(metrics)
        epoch = metrics.pop("epoch", None)  # Lightning's 0-based epoch; every metric of this package is per epoch
        super().log_metrics(metrics, int(epoch) + 1 if epoch is not None else step)

    @rank_zero_only
    def log_hyperparams(self, params: Any) -> None:
        """Lightning's own call at fit start does nothing: log_run_summary records the short settings."""

    @rank_zero_only
    def log_run_summary(self, params: dict[str, Any], outcome: dict[str, float], tags: list[str], out: Path) -> None:
        """The run's settings as params, its outcome at its last epoch, its tags, and its files as artifacts."""
        super().log_hyperparams(params)
        for tag in tags:
            self.experiment.set_tag(self.run_id, f"tag.{tag}", "true")
        self.experiment.set_tag(self.run_id, "tags", ",".join(tags))
        super().log_metrics(outcome)
        for name in RUN_FILES:
            if (out / name).is_file():
                self.experiment.log_artifact(self.run_id, str(out / name))
        self.finalize("success")


def record_runs(trainer: L.Trainer, cfg: DictConfig, metrics: dict, out: Path) -> None:
    """A finished run's settings, outcome, tags and files, in every MLflow logger of the trainer."""
    params = {**run_hparams(cfg, metrics), "lr": cfg.optimizer.lr, "seed": cfg.seed, "batch_size": cfg.data.batch_size}
    for logger in trainer.loggers:
        if isinstance(logger, RunMLFlowLogger):
            logger.log_run_summary(params, outcome(metrics), metrics.get("tags") or [], out)
