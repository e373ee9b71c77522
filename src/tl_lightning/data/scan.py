"""Check a dataset before training: layout, class folders, and every file decodes.

Every regular file inside a class folder counts, whatever its extension: a `.DS_Store` or a
`notes.txt` there is reported rather than silently ignored, and anything PIL decodes (GIF
included) is trained on. Results are cached per dataset state, so a sweep scans once.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tl_lightning.data.cache import cache_dir
from tl_lightning.data.duplicates import SplitOverlapError, check_duplicates, find_duplicates, pooled_report  # noqa: F401
from tl_lightning.data.images import MAX_IMAGE_PIXELS, header_problem, image_problem
from tl_lightning.data.layout import LAYOUT, SPLITS, DatasetError

ON_BAD_IMAGE = ("error", "skip")
# Bump when image_problem changes what it accepts, so old cached verdicts are not reused.
SCAN_VERSION = 3
# An error names this many files and counts the rest: 20,000 bad files must not make a 2 MB message.
SHOWN_FILES = 20


class BadImagesError(DatasetError):
    """Some files in the class folders cannot be decoded."""


@dataclass(frozen=True)
class ScanResult:
    root: Path
    classes: list[str]
    num_files: int
    bad: dict[str, str] = field(default_factory=dict)  # path relative to root -> reason

    def is_valid(self, path: str) -> bool:
        """ImageFolder's is_valid_file: every file in a class folder except the bad ones."""
        return Path(os.path.relpath(path, self.root)).as_posix() not in self.bad


def check_dataset(
    root: str | Path,
    on_bad_image: str = "error",
    max_pixels: int = MAX_IMAGE_PIXELS,
    resize_side: int | None = None,
    pooled: bool = False,
) -> ScanResult:
    """Validate `root` for training; raise (error) or warn and drop (skip) unusable files. `resize_side`: the
    shorter side images are resized to before being stored, when known (their stored size is limited too).

    `on_bad_image` is validated with the rest of the config (run.config); anything but "skip" raises.
    `pooled`: train/ and val/ are pooled into cross-validation folds (folds.py), which keep identical files
    in one fold, so duplicates across the folders are no leak there.
    """
    root = Path(root)
    classes = check_layout(root)
    files = list_files(root, classes)
    bad, duplicates = scan_files(root, files, max_pixels, resize_side)
    if pooled and duplicates:
        warnings.warn(pooled_report(root, duplicates), stacklevel=2)
    elif duplicates:
        check_duplicates(root, duplicates)
    result = ScanResult(root, classes, len(files), bad)
    if result.bad and on_bad_image != "skip":
        raise BadImagesError(_bad_report(result))
    if result.bad:
        warnings.warn(
            f"data.on_bad_image=skip: skipping {len(result.bad)} unreadable file(s) of {len(files)} under {root} "
            f"(first: {_first_bad(result)}).",
            stacklevel=2,
        )
        _check_no_class_left_empty(root, files, result.bad)
    return result


def check_layout(root: Path) -> list[str]:
    """The class names; raise naming the path when the folder layout is not an ImageFolder pair."""
    if not root.exists():
        raise DatasetError(f"data.root={root} does not exist: {LAYOUT}.")
    if not root.is_dir():
        raise DatasetError(f"data.root={root} is a file, not a folder: {LAYOUT}.")
    per_split = {split: _class_dirs(root / split) for split in SPLITS}
    train, val = sorted(per_split["train"]), sorted(per_split["val"])
    if len(train) < 2:
        raise DatasetError(
            f"data.root={root} has {len(train)} class folder ({', '.join(train)}): a classifier needs at least two. "
            f"{LAYOUT}."
        )
    if train != val:
        only_train, only_val = sorted(set(train) - set(val)), sorted(set(val) - set(train))
        raise DatasetError(
            f"Class folders differ under data.root={root}: only in train/: {only_train or 'none'}, "
            f"only in val/: {only_val or 'none'}. {LAYOUT}."
        )
    return train


def _class_dirs(split_dir: Path) -> list[str]:
    if not split_dir.is_dir():
        what = "is a file" if split_dir.exists() else "is missing"
        raise DatasetError(f"{split_dir} {what}: {LAYOUT}.")
    classes = sorted(e.name for e in os.scandir(split_dir) if e.is_dir())
    if not classes:
        raise DatasetError(f"{split_dir} holds no class folders: {LAYOUT}.")
    for name in classes:
        if not any(walk_files(split_dir / name)):
            raise DatasetError(f"Class folder {split_dir / name} is empty: every class needs at least one image.")
    return classes


def walk_files(folder: Path) -> Iterator[Path]:
    # Same walk as torchvision's make_dataset, so the scan sees exactly the files ImageFolder would.
    _refuse_link_loops(folder)
    for dirpath, _, names in sorted(os.walk(folder, followlinks=True)):
        for name in sorted(names):
            yield Path(dirpath) / name


def _refuse_link_loops(folder: Path) -> None:
    # That walk follows a symlink to a folder above it again and again (until the OS gives up), listing every
    # image dozens of times. Top-down, so this raises before descending into a loop.
    for dirpath, dirs, _ in os.walk(folder, followlinks=True):
        for name in dirs:
            link = Path(dirpath) / name
            if link.is_symlink() and Path(dirpath).resolve().is_relative_to(link.resolve()):
                raise DatasetError(
                    f"{link} is a symbolic link to {os.readlink(link)}, a folder that contains it: listing the class "
                    f"folder would loop. Remove the link."
                )


def list_files(root: Path, classes: list[str]) -> list[tuple[str, tuple[int, ...]]]:
    """(path relative to root, its identity: size, mtime, ctime, inode) of every file in every class folder."""
    files = []
    for split in SPLITS:
        for name in classes:
            for path in walk_files(root / split / name):
                try:
                    st = path.stat()
                    identity = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
                except OSError:  # a dangling or looping symlink: the scan reports it as a bad file
                    identity = (-1,)
                files.append((path.relative_to(root).as_posix(), identity))
    return files


def scan_files(
    root: Path, files: list, max_pixels: int = MAX_IMAGE_PIXELS, resize_side: int | None = None
) -> tuple[dict[str, str], list[list[str]]]:
    """(unusable files -> reason, groups of files that are one file or hold the same bytes).

    Only the decode verdicts come from the cache (when this exact file set was scanned before with the same
    limit): the size checks are redone every run, so an edited cache cannot switch
    them off, and a cached verdict can only add bad files, never vouch for one. The duplicate check is redone
    every run too."""
    cache = _cache_file(root, files, max_pixels)
    decoded = _read_cache(cache)
    if decoded is None:
        decoded = {rel: problem for rel, _ in files if (problem := image_problem(root / rel, max_pixels))}
        _write_cache(cache, decoded)
    bad = {rel: problem for rel, _ in files if (problem := header_problem(root / rel, max_pixels, resize_side))}
    listed = {rel for rel, _ in files}
    bad |= {rel: why for rel, why in decoded.items() if rel in listed and rel not in bad and isinstance(why, str)}
    return bad, find_duplicates(root, [(rel, identity) for rel, identity in files if rel not in bad])


def _cache_file(root: Path, files: list, max_pixels: int) -> Path:
    # Keyed by content identity: any added, removed, rewritten (ctime) or touched file gives a new key.
    key = json.dumps([SCAN_VERSION, str(root.resolve()), max_pixels, files])
    return cache_dir() / "scan" / f"{hashlib.sha256(key.encode()).hexdigest()}.json"


def _read_cache(path: Path) -> dict[str, str] | None:
    try:
        bad = json.loads(path.read_text())["bad"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return bad if isinstance(bad, dict) else None


def _write_cache(path: Path, bad: dict[str, str]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"bad": bad}))
        tmp.replace(path)  # concurrent sweep jobs never read half a file
    except OSError:
        pass  # an unwritable cache only costs a rescan next time


def _bad_report(result: ScanResult) -> str:
    found = sorted(result.bad.items())
    lines = [f"  {result.root / rel}: {reason}" for rel, reason in found[:SHOWN_FILES]]
    if len(found) > SHOWN_FILES:
        lines.append(f"  ... and {len(found) - SHOWN_FILES:,} more")
    return (
        f"{len(result.bad)} of {result.num_files} files under data.root={result.root} cannot be used:\n"
        + "\n".join(lines)
        + "\nDelete or fix them, or pass data.on_bad_image=skip to train without them."
    )


def _first_bad(result: ScanResult) -> str:
    rel, reason = min(result.bad.items())
    return f"{result.root / rel}: {reason}"


def _check_no_class_left_empty(root: Path, files: list, bad: dict[str, str]) -> None:
    good_dirs = {tuple(rel.split("/")[:2]) for rel, _ in files if rel not in bad}
    all_dirs = {tuple(rel.split("/")[:2]) for rel, _ in files}
    for split, name in sorted(all_dirs - good_dirs):
        raise DatasetError(f"Class folder {root / split / name} has no readable image left after skipping bad files.")
