"""The settings that define a run's result, saved into every checkpoint so that a resume can compare them.

`resume=true` continues a checkpoint only when these match: resuming another experiment's checkpoint would
report its curve as this run's. max_epochs is deliberately absent (resuming to train longer is legitimate),
and so are settings that change speed but not results (workers, eval batch size, progress bars).
"""

from __future__ import annotations

from typing import Any

import lightning as L
from omegaconf import DictConfig, OmegaConf

KEY = "tl_settings"


def run_settings(cfg: DictConfig, classes: list[str]) -> dict[str, Any]:
    """Plain values (weights_only-loadable) of everything that defines this run's result."""
    pick = {
        "arch": cfg.arch.name,
        "arch.weights": cfg.arch.get("weights"),
        "arch.image_size": cfg.arch.image_size,
        "strategy": cfg.strategy.name,
        "strategy.unfreeze": cfg.strategy.get("unfreeze"),
        "optimizer": cfg.get("optimizer"),
        "scheduler": cfg.get("scheduler"),
        "data.batch_size": cfg.data.batch_size,
        # Another fold's checkpoint trained on this fold's val images.
        "data.folds": cfg.data.get("folds"),
        "data.fold": cfg.data.get("fold") if cfg.data.get("folds") is not None else None,
        "data.split_seed": cfg.data.get("split_seed") if cfg.data.get("folds") is not None else None,
        "trainer.frozen_pass": cfg.trainer.get("frozen_pass", "auto"),
        "model.aux_loss_weight": cfg.model.get("aux_loss_weight"),
        "seed": cfg.seed,
        "classes": list(classes),
    }
    return {k: _plain(v) for k, v in pick.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, DictConfig):
        return OmegaConf.to_container(value, resolve=True)
    return value if value is None or isinstance(value, (bool, int, float, list)) else str(value)


def differences(saved: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    """`setting: checkpoint X, this run Y` for every setting that differs (nested ones flattened)."""
    flat_saved, flat_ours = _flatten(saved), _flatten(ours)
    return [
        f"{k}: checkpoint {flat_saved.get(k, '(not set)')!r}, this run {flat_ours.get(k, '(not set)')!r}"
        for k in sorted(set(flat_saved) | set(flat_ours))
        if str(flat_saved.get(k)) != str(flat_ours.get(k))
    ]


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            flat.update(_flatten(v, f"{prefix}{k}."))
        else:
            flat[f"{prefix}{k}"] = v
    return flat


class RunSettings(L.Callback):
    """Write `checkpoint["tl_settings"]` into every checkpoint this run saves."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        checkpoint[KEY] = self.settings
