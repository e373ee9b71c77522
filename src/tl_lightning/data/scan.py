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
from tl_lightning.data.images import image_problem
from tl_lightning.data.layout import LAYOUT, SPLITS, DatasetError

ON_BAD_IMAGE = ("error", "skip")
# Bump when image_problem changes what it accepts, so old cached verdicts are not reused.
SCAN_VERSION = 1


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


def check_dataset(root: str | Path, on_bad_image: str = "error") -> ScanResult:
    """Validate `root` for training; raise (error) or warn and drop (skip) undecodable files.

    `on_bad_image` is validated with the rest of the config (run.config); anything but "skip" raises.
    """
    root = Path(root)
    classes = check_layout(root)
    files = list_files(root, classes)
    result = ScanResult(root, classes, len(files), scan_files(root, files))
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
    for dirpath, _, names in sorted(os.walk(folder, followlinks=True)):
        for name in sorted(names):
            yield Path(dirpath) / name


def list_files(root: Path, classes: list[str]) -> list[tuple[str, int, int]]:
    """(path relative to root, size, mtime_ns) of every file in every class folder."""
    files = []
    for split in SPLITS:
        for name in classes:
            for path in walk_files(root / split / name):
                st = path.stat()
                files.append((path.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns))
    return files


def scan_files(root: Path, files: list[tuple[str, int, int]]) -> dict[str, str]:
    """Undecodable files -> reason, from the cache when this exact file set was scanned before."""
    cache = _cache_file(root, files)
    cached = _read_cache(cache)
    if cached is not None:
        return cached
    bad = {rel: problem for rel, _, _ in files if (problem := image_problem(root / rel))}
    _write_cache(cache, bad)
    return bad


def _cache_file(root: Path, files: list[tuple[str, int, int]]) -> Path:
    # Keyed by content identity: any added, removed, resized or touched file gives a new key.
    key = json.dumps([SCAN_VERSION, str(root.resolve()), files])
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
    lines = [f"  {result.root / rel}: {reason}" for rel, reason in sorted(result.bad.items())]
    return (
        f"{len(result.bad)} of {result.num_files} files under data.root={result.root} cannot be used:\n"
        + "\n".join(lines)
        + "\nDelete or fix them, or pass data.on_bad_image=skip to train without them."
    )


def _first_bad(result: ScanResult) -> str:
    rel, reason = min(result.bad.items())
    return f"{result.root / rel}: {reason}"


def _check_no_class_left_empty(root: Path, files: list[tuple[str, int, int]], bad: dict[str, str]) -> None:
    good_dirs = {tuple(rel.split("/")[:2]) for rel, _, _ in files if rel not in bad}
    all_dirs = {tuple(rel.split("/")[:2]) for rel, _, _ in files}
    for split, name in sorted(all_dirs - good_dirs):
        raise DatasetError(f"Class folder {root / split / name} has no readable image left after skipping bad files.")
