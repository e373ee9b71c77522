"""Checks that turn late, cryptic failures into early, named ones: config values and non-finite losses."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
import torch.nn as nn
from omegaconf import DictConfig

from tl_lightning.archs import build_backbone, get_spec
from tl_lightning.config import CONF_DIR, unknown_arch
from tl_lightning.freezing import apply_freeze
from tl_lightning.scan import ON_BAD_IMAGE
from tl_lightning.weights import WeightsError, check_compatible, read_state_dict, weights_file


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""


class FiniteLossGuard(L.Callback):
    """Stop before a NaN/inf loss reaches backward, so no checkpoint ever holds poisoned weights."""

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor) -> None:
        if torch.isfinite(loss).all():
            return
        ckpt = trainer.checkpoint_callback
        last = Path(ckpt.last_model_path) if ckpt is not None and ckpt.last_model_path else None
        kept = f"the last good checkpoint is {last}" if last and last.is_file() else "no epoch had finished yet"
        raise NonFiniteLossError(
            f"non-finite loss ({loss.item()}) at epoch {trainer.current_epoch + 1}, step {trainer.global_step + 1} "
            f"(both counted from 1); training stopped before this step updated the weights, {kept}. "
            f"Try a lower optimizer.lr (now {trainer.optimizers[0].param_groups[0]['lr']:g}) or check the data."
        )


def config_problems(cfg: DictConfig) -> list[str]:
    """Problems found without touching data: choices, weights file, strategy.unfreeze, BatchNorm batches."""
    problems = []
    strategies = sorted(p.stem for p in (CONF_DIR / "strategy").glob("*.yaml"))
    if cfg.strategy.name not in strategies:
        problems.append(f"strategy={cfg.strategy.name!r} is unknown: choose one of {', '.join(strategies)}")
    on_bad = cfg.data.get("on_bad_image", "error")
    if on_bad not in ON_BAD_IMAGE:
        problems.append(f"data.on_bad_image={on_bad!r} must be one of {', '.join(ON_BAD_IMAGE)}")
    if unknown_arch(cfg.arch.name) is None:
        problems += _model_problems(cfg.arch.name, cfg)
    return problems


def _model_problems(arch: str, cfg: DictConfig) -> list[str]:
    # The meta device builds the layout without allocating or initialising weights: milliseconds.
    try:
        with torch.device("meta"):
            model = build_backbone(arch)
    except NotImplementedError:  # builders that compute sizes from tensors (regnet) need real ones
        model = build_backbone(arch)
    problems = _weights_problems(model, arch, cfg.arch.get("weights"))
    unfreeze, batch_size = cfg.strategy.unfreeze, cfg.data.batch_size
    try:
        apply_freeze(model, get_spec(arch), unfreeze)
    except ValueError as err:
        return [*problems, str(err).rstrip(".")]
    if batch_size == 1 and trains_batchnorm(model):
        problems.append(
            f"data.batch_size=1 cannot train {arch} with strategy.unfreeze={unfreeze}: its BatchNorm layers train "
            f"and need at least 2 images per batch. Use data.batch_size >= 2 or strategy=extractor"
        )
    return problems


def _weights_problems(model: nn.Module, arch: str, weights: str | None) -> list[str]:
    """A weights file is read (weights_only) and matched against the layout before any data is touched."""
    if weights is None or str(weights).lower() in ("none", "imagenet"):
        return []
    try:
        path = weights_file(arch, weights)
        check_compatible(model, get_spec(arch), read_state_dict(path), str(path))
    except WeightsError as err:
        return [str(err)]
    return []


def trains_batchnorm(model: nn.Module) -> bool:
    """Whether any BatchNorm stays in train mode after freezing (eval-mode ones accept 1 image)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training for m in model.modules())
