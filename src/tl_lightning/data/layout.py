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


def printable(name: str) -> str:
    """A file or class name as text to draw in a figure: U+FFFD where it is not valid UTF-8 (os.listdir returns
    such bytes as surrogates, which fonts cannot draw), a space for a tab, newline or other character that no
    font has a glyph for."""
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return "".join(ch if ch.isprintable() else " " for ch in text)
