"""The name conf/model/transfer.yaml's `_target_` (and users' configs) use for the LightningModule."""

from tl_lightning.model.module import TransferLearningModule

__all__ = ["TransferLearningModule"]
