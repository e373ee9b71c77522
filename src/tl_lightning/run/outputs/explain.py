"""The end of every run: why it came out as it did (model/explain/), written beside its other artifacts.

`explain` in the config: a mapping of the settings below (on by default) or `explain=false` (off). The run
reuses its feature cache (the frozen part's output for the plain train view and val), loads the last epoch's
weights (the test pass left the best checkpoint's in the module), and adds the val features to TensorBoard's
Projector with class, prediction and a thumbnail of each image.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf

from tl_lightning.data import ImageFolderDataModule
from tl_lightning.data.transforms import denormalize
from tl_lightning.errors import UserError
from tl_lightning.figures import reason
from tl_lightning.model import TransferLearningModule
from tl_lightning.model.checkpoint import read_checkpoint
from tl_lightning.model.explain.features import Split
from tl_lightning.model.explain.pipeline import Explained, ExplainSettings, RunInfo, explain
from tl_lightning.run.inputs.feature_cache import CachedDataModule
from tl_lightning.run.outputs.projector import write_embedding

log = logging.getLogger(__name__)
PROJECTIONS = ("pca", "tsne")
THUMBNAIL = 48  # px: the Projector's sprite holds every val image at this size


def explain_settings(cfg: DictConfig) -> ExplainSettings | None:
    """The `explain` setting checked (called before training, so a typo costs nothing); None = off."""
    node = cfg.get("explain", True)
    if isinstance(node, bool) or node is None:
        return ExplainSettings(batch_size=int(cfg.strategy.cache_batch_size)) if node else None
    if not isinstance(node, DictConfig):
        raise UserError(f"explain={node!r}: use explain=false, or set explain.projection=pca|tsne.")
    values = OmegaConf.to_container(node, resolve=True)
    known = {"projection", "per_class", "mistakes"}
    if unknown := sorted(set(values) - known):
        raise UserError(f"explain.{unknown[0]} is not a setting: use {', '.join(sorted(known))}, or explain=false.")
    if values.get("projection", "pca") not in PROJECTIONS:
        raise UserError(f"explain.projection={values['projection']!r} is unknown: use pca or tsne (t-SNE, slower).")
    for key in ("per_class", "mistakes"):
        if not isinstance(values.get(key, 0), int) or values.get(key, 0) < 0:
            raise UserError(f"explain.{key}={values[key]!r}: expected an integer >= 0.")
    return ExplainSettings(**values, batch_size=int(cfg.strategy.cache_batch_size))


def explain_run(
    out: Path,
    cfg: DictConfig,
    metrics: dict,
    module: TransferLearningModule,
    images: ImageFolderDataModule,
    fit_data: L.LightningDataModule,
    trainer: L.Trainer,
) -> None:
    """features.png, saliency.png, metrics["feature_space"] and the Projector embedding, or one line per skip."""
    settings = explain_settings(cfg)
    if settings is None:
        return
    start = time.perf_counter()
    last = out / "checkpoints" / "last.ckpt"
    epoch = int(metrics.get("epochs") or 0)
    if epoch != metrics.get("best_epoch"):  # the test pass loaded the best checkpoint; the table scores the last
        if not last.is_file():
            metrics["feature_space"] = {"skipped": [f"everything skipped: no {last} holds the last epoch's weights"]}
            log.warning("explain: %s", metrics["feature_space"]["skipped"][0])
            return
        module.load_state_dict(read_checkpoint(last, "checkpoints/last.ckpt")["state_dict"])
    info = RunInfo(f"{cfg.arch.name}/{cfg.strategy.name} s{cfg.seed}", epoch, cfg.arch.weights, int(cfg.seed))
    settings = dataclasses.replace(settings, frozen_pass=(metrics.get("settings") or {}).get("frozen_pass"))
    result = explain(module, images, out, info, settings, cached_inputs(fit_data))
    metrics["feature_space"] = result.numbers
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger) and result.after is not None:
            try:
                add_embedding(logger, result, images, epoch)
            except Exception as err:  # noqa: BLE001 - the Projector is a view; the run's results stand without it
                line = f"TensorBoard embedding skipped: {reason(err)}"
                result.numbers["skipped"].append(line)
                log.warning("explain: %s", line)
    log.info("explain: features.png, saliency.png and feature_space in %.1f s", time.perf_counter() - start)


def cached_inputs(fit_data: L.LightningDataModule) -> tuple[Split, Split] | None:
    """The feature cache's plain train view and val: exactly the stage-one inputs the explanation needs.
    K augmented views (views-K) are not the plain view, so those runs recompute it."""
    if not isinstance(fit_data, CachedDataModule) or fit_data.train.views.shape[0] != 1:  # views-K: K >= 2
        return None
    train, val = fit_data.train, fit_data.val
    return Split(train.views[0], train.labels), Split(val.views[0], val.labels)


def add_embedding(logger: TensorBoardLogger, result: Explained, images: ImageFolderDataModule, epoch: int) -> None:
    names = [c.encode("utf-8", "surrogateescape").decode("utf-8", "replace") for c in images.classes]
    targets = [int(t) for t in result.after.val_y]
    metadata = [[names[t], names[p]] for t, p in zip(targets, result.preds, strict=True)]
    val = images.val_set
    thumbs = torch.cat(
        [F.interpolate(val[i][0][None], size=(THUMBNAIL, THUMBNAIL), mode="area") for i in range(len(val))]
    )
    write_embedding(
        Path(logger.log_dir),
        "val_features_head_input",
        epoch,
        result.after.val,
        metadata,
        ["class", "prediction"],
        denormalize(thumbs),
    )
