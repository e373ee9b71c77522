"""The data layer: image folders, their checks and download, decoding, augmentation and loaders.

Knows nothing of the model, the run or the report.
"""

from tl_lightning.data.datamodule import ImageFolderDataModule

__all__ = ["ImageFolderDataModule"]
