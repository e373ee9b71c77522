"""What the training reads: the images, or the cached output of the frozen part when that is exact; and the
trainer's config without this package's own keys."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import lightning as L
from omegaconf import DictConfig, open_dict

from tl_lightning.data import ImageFolderDataModule
from tl_lightning.errors import ConfigError
from tl_lightning.features.passes import open_store, store_line
from tl_lightning.model import TransferLearningModule
from tl_lightning.model.frozen_pass import choose, in_trainer_precision
from tl_lightning.run.inputs.feature_cache import build_cached_datamodule, find_cut

log = logging.getLogger(__name__)


def choose_inputs(
    cfg: DictConfig, module: TransferLearningModule, datamodule: ImageFolderDataModule, trainer: L.Trainer
) -> tuple[L.LightningDataModule, str, str, str, dict | None]:
    """Images, or cached activations of the frozen part when strategy.cache_features allows it exactly;
    with the train-input regime that runs (`plain`, `views-K`, or `fresh` whenever images are trained on),
    how the frozen part ran (settings.frozen_pass) and what the feature store gave (None: no frozen pass)."""
    regime = requested_regime(cfg)
    in_training = in_trainer_precision(cfg.trainer.precision)  # frozen layers run inside each training step
    if not cfg.strategy.get("cache_features"):
        return datamodule, "off", regime, in_training, None
    if regime == "fresh":
        # Fresh crops every epoch: the frozen part runs on images each step, without autograd (no graph
        # is built through parameters that do not require grad, so there is no backward pass through them).
        return datamodule, "off: strategy.cache_views=fresh draws new crops every epoch", regime, in_training, None
    cut = find_cut(module.model, module.spec, module.plan)
    if isinstance(cut, str):
        log.info("Feature cache not used: %s; training on images with fresh crops every epoch.", cut)
        return datamodule, f"off: {cut}", "fresh", in_training, None
    device = trainer.strategy.root_device
    frozen = choose(
        cfg.trainer.get("frozen_pass", "auto"), device, cfg.trainer.precision, trainer.precision_plugin.forward_context
    )
    use = open_store(cfg.get("cache"), datamodule.root, Path(cfg.paths.output_dir))
    cached = build_cached_datamodule(
        module.model,
        cut,
        datamodule,
        views=int(regime.removeprefix("views-")) if regime.startswith("views-") else None,
        batch_size=cfg.strategy.cache_batch_size,
        device=device,
        precision=frozen,
        use=use,
    )
    log.info(store_line(use))
    module.use_cached_inputs(cut.tail)
    return cached, f"input of {cut.tap}", regime, frozen.name, use.record()


def trainer_conf(cfg: DictConfig) -> DictConfig:
    """cfg.trainer without this package's own keys, which lightning.Trainer does not take."""
    conf = copy.deepcopy(cfg.trainer)
    with open_dict(conf):
        conf.pop("frozen_pass", None)
    return conf


def requested_regime(cfg: DictConfig) -> str:
    """The train inputs asked for: `plain`, `views-K` or `fresh` (always fresh without the feature cache).

    Where no exact cut exists (Inception-v3 mixed) the run falls back to `fresh` (run/inputs.choose_inputs).
    """
    if not cfg.strategy.get("cache_features"):
        return "fresh"
    value = cfg.strategy.get("cache_views", "plain")
    if value in ("plain", "fresh"):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 2:
        return f"views-{value}"
    why = "is ambiguous (it once meant the plain view)" if value == 1 else "is not a train-view regime"
    raise ConfigError(
        f"strategy.cache_views={value!r} {why}: use plain (the un-augmented eval view, cached once), "
        f"an integer K >= 2 (K cached RandomResizedCrop+flip views, one drawn per image per epoch), "
        f"or fresh (a new crop every epoch, nothing cached for train)"
    )
