"""The model layer: the per-arch table and discovery, freezing, weights and checkpoint loading, and the
LightningModule. Knows nothing of the run or the report."""

from tl_lightning.model.module import TransferLearningModule

__all__ = ["TransferLearningModule"]
