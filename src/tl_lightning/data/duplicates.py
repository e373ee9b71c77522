"""Files that are one image twice (one file through a symbolic link, or identical bytes) and what they break.

Across train/ and val/ they are refused: val accuracy would partly measure training images. Within val/ they
are a warning: no leak, but val accuracy and the paired tests count one image several times.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

from tl_lightning.data.layout import DatasetError

__all__ = ["SplitOverlapError", "check_duplicates", "find_duplicates", "pooled_report"]


class SplitOverlapError(DatasetError):
    """Files of val/ are also in train/ (the same file, or the same bytes): val accuracy would be train accuracy."""


def find_duplicates(root: Path, good: list[str]) -> list[list[str]]:
    # Same real path (a symlinked split or file) or same bytes: either way it is one image.
    groups: dict[str, list[str]] = {}
    for rel in good:
        path = root / rel
        groups.setdefault(f"path:{path.resolve()}", []).append(rel)
        groups.setdefault(f"sha256:{hashlib.sha256(path.read_bytes()).hexdigest()}", []).append(rel)
    return sorted(list(g) for g in {tuple(g) for g in groups.values() if len(g) > 1})


def check_duplicates(root: Path, duplicates: list[list[str]]) -> None:
    """Raise for duplicates across train/ and val/ (a leak); warn for duplicates within val/ (double counting)."""
    overlap = [g for g in duplicates if len({rel.split("/")[0] for rel in g}) > 1]
    if overlap:
        raise SplitOverlapError(_overlap_report(root, overlap))
    within_val = [g for g in duplicates if g[0].startswith("val/")]
    if within_val:
        warnings.warn(_within_val_report(root, within_val), stacklevel=3)


def _listing(groups: list[list[str]]) -> str:
    shown = "\n".join(f"  {' = '.join(group)}" for group in groups[:10])
    return shown + (f"\n  ... and {len(groups) - 10} more" if len(groups) > 10 else "")


def _overlap_report(root: Path, overlap: list[list[str]]) -> str:
    return (
        f"{len(overlap)} file(s) under data.root={root} are in both train/ and val/ (the same file through a "
        f"symbolic link, or identical bytes), so val accuracy would partly measure training images:\n"
        f"{_listing(overlap)}\nRemove each from one of the splits (or point val/ at a separate folder)."
    )


def pooled_report(root: Path, groups: list[list[str]]) -> str:
    return (
        f"{len(groups)} image(s) under data.root={root} are there more than once (the same file through a symbolic "
        f"link, or identical bytes): data.folds keeps the copies of each in one fold, so none leaks into training, "
        f"but the fold that validates on them counts every copy:\n{_listing(groups)}\nKeep one copy of each."
    )


def _within_val_report(root: Path, groups: list[list[str]]) -> str:
    extra = sum(len(g) - 1 for g in groups)
    return (
        f"{len(groups)} image(s) under data.root={root} are in val/ more than once (the same file through a "
        f"symbolic link, or identical bytes), so val accuracy counts them {extra} extra time(s) and paired tests "
        f"treat the copies as independent images:\n{_listing(groups)}\nKeep one copy of each."
    )
