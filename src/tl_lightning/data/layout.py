"""What a dataset folder looks like, and the error for one that does not."""

from __future__ import annotations

from pathlib import Path

from tl_lightning.errors import UserError

SPLITS = ("train", "val")
LAYOUT = (
    "expected data.root/train/<class>/<image> and data.root/val/<class>/<image> with the same class folders "
    "in both (point data.root, or TL_DATA_DIR, at such a folder)"
)


class DatasetError(UserError):
    """The dataset is missing, malformed or could not be fetched."""


def has_split_dirs(root: Path) -> bool:
    return all((root / split).is_dir() for split in SPLITS)
