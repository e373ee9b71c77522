"""Copies among the judged images: files that are one image (the same file, or identical bytes).

The runs judge every file, so a copy counts twice in the recorded accuracies; the report's paired tests and
cross-validation folds count each distinct image once instead. Copies are found by the data layer's own rule
(files.find_duplicates: same real path, or same size and sha256), reading the images where the runs recorded
them (data.root). Where a file is missing, outside data.root or not a regular file, nothing is merged and the
report says the check could not run.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from tl_lightning.files import find_duplicates, is_regular

MAX_IMAGE = 256 << 20  # larger than any image a run accepts (data.max_pixels); a bigger "image" is not read


def copies(paths: list[str], root: Path | None) -> dict[str, str] | None:
    """Each path (absolute, or relative to root) -> the first path of its group of copies (itself when unique);
    None when the images cannot all be read under root."""
    if root is None or not paths:
        return None
    return _copies(tuple(paths), str(root))


@lru_cache(maxsize=16)  # every cell of a sweep is judged on the same images: hash them once
def _copies(paths: tuple[str, ...], root: str) -> dict[str, str] | None:
    rel = {}
    for path in dict.fromkeys(paths):
        inside = os.path.relpath(path, root) if os.path.isabs(path) else path
        full = Path(root) / inside
        if inside.startswith("..") or not is_regular(full) or full.stat().st_size > MAX_IMAGE:
            return None
        rel[inside] = path
    try:
        groups = find_duplicates(Path(root), [(r, (os.stat(Path(root) / r).st_size,)) for r in rel])
    except OSError:
        return None
    first = {path: path for path in rel.values()}
    for group in groups:
        for r in group:
            first[rel[r]] = rel[group[0]]
    return first


def copies_sentence(paths: list[str], root: Path | None, what: str = "images") -> str:
    """One sentence on copies among the judged files: how many distinct images, how many copies judged."""
    found = copies(paths, root)
    n = len(set(paths))
    if found is None:
        return f"Copies among these {what} were not checked (the files are not readable under the recorded data.root)."
    distinct = len(set(found.values()))
    if distinct == n:
        return f"No two of these {n} {what} are the same image (same file or identical bytes)."
    extra = n - distinct
    return (
        f"These {n} files are {distinct} distinct {what}: {extra} cop{'y' if extra == 1 else 'ies'} of an image "
        "judged as well. The recorded accuracies count every file; the paired tests count each distinct image once."
    )
