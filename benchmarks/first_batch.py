"""A callback for bench_feature_store.py startup: writes the time of the first training batch to $TL_BENCH_MARK."""

from __future__ import annotations

import os
import time
from pathlib import Path

import lightning as L


class FirstBatch(L.Callback):
    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: object, i: int) -> None:
        mark = Path(os.environ["TL_BENCH_MARK"])
        if not mark.exists():
            mark.write_text(repr(time.time()))
