"""Reading this package's Lightning checkpoints back into a TransferLearningModule, weights_only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from tl_lightning.errors import UserError
from tl_lightning.model.loading import load_tensors, non_finite
from tl_lightning.model.module import TransferLearningModule


class CheckpointError(UserError):
    """A checkpoint is not this package's, or does not fit the run that wants it."""


def read_checkpoint(path: Path, setting: str) -> dict[str, Any]:
    """The checkpoint dict (weights_only), checked to be a Lightning checkpoint of this package."""
    checkpoint = load_tensors(path, setting)
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise CheckpointError(f"{setting}={path} is not a Lightning checkpoint (it has no state_dict).")
    if not isinstance(checkpoint.get("hyper_parameters"), dict) or "arch" not in checkpoint["hyper_parameters"]:
        raise CheckpointError(f"{setting}={path} is not a tl_lightning checkpoint (its hyper_parameters lack arch).")
    if bad := non_finite(checkpoint["state_dict"]):
        more = f" (+{len(bad) - 3} more)" if len(bad) > 3 else ""
        raise CheckpointError(
            f"{setting}={path} holds NaN or infinite weights ({', '.join(bad[:3])}{more}): the file is corrupt or the "
            f"run diverged before it was saved. Use an earlier checkpoint (best.ckpt) or retrain."
        )
    return checkpoint


def load_module(path: Path, setting: str = "ckpt", map_location: str | torch.device = "cpu") -> TransferLearningModule:
    """The trained module in eval mode. Built with weights="none": its own state dict replaces them."""
    checkpoint = read_checkpoint(path, setting)
    module = TransferLearningModule(**{**checkpoint["hyper_parameters"], "weights": "none"})
    try:
        module.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"{setting}={path}: its weights do not fit its own settings ({err}).") from err
    return module.to(map_location).eval()
