"""Stop training at the first non-finite loss, before it reaches backward or a checkpoint."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch

from tl_lightning.errors import UserError


class NonFiniteLossError(UserError):
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
