"""The train/val overlap check: a val file that is a train file (through a symlink) or holds its bytes.

It runs on every scan, never from a cache, so no cache entry can switch it off. It stays cheap: only files
whose size occurs in both splits can hold the same bytes, so only those are read and hashed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from tl_lightning.data.layout import DatasetError

# The error names this many groups, and this many files of each, and counts the rest.
SHOWN_GROUPS = 10
SHOWN_PER_GROUP = 3


class SplitOverlapError(DatasetError):
    """Files of val/ are also in train/ (the same file, or the same bytes): val accuracy would be train accuracy."""


def split_overlap(root: Path, files: list[tuple[str, tuple[int, ...]]]) -> list[list[str]]:
    """Groups of files (paths relative to root) in more than one split that are one file or hold the same
    bytes. `files`: (relative path, identity whose first item is the size), as scan.list_files gives them."""
    groups: dict[str, list[str]] = {}
    by_size: dict[int, list[str]] = {}
    for rel, identity in files:
        groups.setdefault(f"path:{(root / rel).resolve()}", []).append(rel)
        by_size.setdefault(identity[0], []).append(rel)
    for same_size in by_size.values():
        if _splits(same_size) > 1:
            for rel in same_size:
                digest = hashlib.sha256((root / rel).read_bytes()).hexdigest()
                groups.setdefault(f"sha256:{digest}", []).append(rel)
    found = {tuple(g) for g in groups.values() if _splits(g) > 1}
    return sorted(list(g) for g in found)


def _splits(rels: list[str]) -> int:
    return len({rel.split("/")[0] for rel in rels})


def overlap_report(root: Path, overlap: list[list[str]]) -> str:
    """The error text: a few groups, a few files of each, and counts of the rest."""
    lines = [f"  {_group_line(group)}" for group in overlap[:SHOWN_GROUPS]]
    if len(overlap) > SHOWN_GROUPS:
        lines.append(f"  ... and {len(overlap) - SHOWN_GROUPS:,} more groups")
    return (
        f"{len(overlap)} file(s) under data.root={root} are in both train/ and val/ (the same file through a "
        f"symbolic link, or identical bytes), so val accuracy would partly measure training images:\n"
        + "\n".join(lines)
        + "\nRemove each from one of the splits (or point val/ at a separate folder)."
    )


def _group_line(group: list[str]) -> str:
    # One group can hold every file (20,000 copies of one image): name the first of each split, then a few more.
    firsts = {rel.split("/")[0]: rel for rel in reversed(group)}
    shown = [rel for rel in group if rel in firsts.values()]
    shown += [rel for rel in group if rel not in shown][: max(0, SHOWN_PER_GROUP - len(shown))]
    shown = [rel for rel in group if rel in shown]
    more = f" = ... and {len(group) - len(shown):,} more" if len(group) > len(shown) else ""
    return " = ".join(shown) + more
