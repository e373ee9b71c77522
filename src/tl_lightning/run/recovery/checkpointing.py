"""How checkpoints are written: atomically, and last.ckpt at the end of every epoch.

Lightning 2.6's writer (fabric's `_atomic_save`, an fsspec transaction) writes a temp file in $TMPDIR, not beside
the target, and moves it there with no fsync, so a crashed machine can keep the new name over unwritten bytes;
where $TMPDIR is another filesystem (a node-local /tmp) the move is a copy that truncates the target first, and a
kill or full disk mid-copy leaves a short file where the good checkpoint was. Its ModelCheckpoint with
`save_last: true` and a monitor writes last.ckpt only in epochs where the monitored metric improved, so a
plateaued run would resume from an old epoch. Both are fixed here (selected in conf/trainer/default.yaml and
conf/callbacks/default.yaml).
"""

from __future__ import annotations

import io
import os
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from tl_lightning.files import atomic_write


class AtomicCheckpointIO(TorchCheckpointIO):
    """torch.save into a temp file beside the target, fsync, rename: the previous checkpoint survives any kill."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO does not take storage_options.")
        # Serialised in memory first (as Lightning's own writer does), so a full disk surfaces as the OSError of a
        # plain write, which atomic_write names, rather than as an error deep inside torch's zip writer.
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        atomic_write(os.fspath(path), lambda f: f.write(buffer.getbuffer()))


class EpochCheckpoint(ModelCheckpoint):
    """ModelCheckpoint that also writes last.ckpt in epochs where the monitored metric did not improve."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_written_step = -1

    def _save_last_checkpoint(self, trainer: L.Trainer, monitor_candidates: dict[str, torch.Tensor]) -> None:
        super()._save_last_checkpoint(trainer, monitor_candidates)
        if self.save_last:
            self._last_written_step = trainer.global_step

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._ensure_last(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._ensure_last(trainer)

    def _ensure_last(self, trainer: L.Trainer) -> None:
        written = self._last_written_step == trainer.global_step
        if self.save_last and not written and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
