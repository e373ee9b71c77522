"""Files that are one image twice (one file through a symbolic link, or identical bytes) and what they break.

Across train/ and val/ they are refused: val accuracy would partly measure training images. Within val/ they
are a warning: no leak, but val accuracy and the paired tests count one image several times.

The check runs on every scan, never from a cache, so no cache entry can switch it off. It stays cheap: only files
whose size occurs more than once can hold the same bytes, so only those are read and hashed.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from tl_lightning.data.layout import DatasetError
from tl_lightning.files import find_duplicates

__all__ = ["SplitOverlapError", "check_duplicates", "find_duplicates", "pooled_report"]

# A message names this many groups, and this many files of each, and counts the rest.
SHOWN_GROUPS = 10
SHOWN_PER_GROUP = 3


class SplitOverlapError(DatasetError):
    """Files of val/ are also in train/ (the same file, or the same bytes): val accuracy would be train accuracy."""


def check_duplicates(root: Path, duplicates: list[list[str]]) -> None:
    """Raise for duplicates across train/ and val/ (a leak); warn for duplicates within val/ (double counting)."""
    overlap = [g for g in duplicates if len({rel.split("/")[0] for rel in g}) > 1]
    if overlap:
        raise SplitOverlapError(_overlap_report(root, overlap))
    within_val = [g for g in duplicates if g[0].startswith("val/")]
    if within_val:
        warnings.warn(_within_val_report(root, within_val), stacklevel=3)


def _listing(groups: list[list[str]]) -> str:
    lines = [f"  {_group_line(group)}" for group in groups[:SHOWN_GROUPS]]
    if len(groups) > SHOWN_GROUPS:
        lines.append(f"  ... and {len(groups) - SHOWN_GROUPS:,} more groups")
    return "\n".join(lines)


def _group_line(group: list[str]) -> str:
    # One group can hold every file (20,000 copies of one image): name the first of each split, then a few more.
    firsts = {rel.split("/")[0]: rel for rel in reversed(group)}
    shown = [rel for rel in group if rel in firsts.values()]
    shown += [rel for rel in group if rel not in shown][: max(0, SHOWN_PER_GROUP - len(shown))]
    shown = [rel for rel in group if rel in shown]
    more = f" = ... and {len(group) - len(shown):,} more" if len(group) > len(shown) else ""
    return " = ".join(shown) + more


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
