"""Atomic file writes: a temp file in the target's folder, fsync, rename, so the previous file survives anything.

A kill -9 or a full disk in the middle of a write leaves at most a `.<name>.*.tmp` beside the target (removed
on the next write of it); the target itself is always either the old complete file or the new complete one.
The temp file sits in the same folder because a rename is only atomic within one filesystem.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from tl_lightning.errors import UserError


class OutputFolderError(UserError):
    """An output file could not be written (read-only folder, full disk)."""


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Like open(path, mode) for writing, but `path` only changes once the block has finished without error."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise _explain(err, path) from err
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the name points at them
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise _explain(err, path) from err
        raise


def atomic_write(path: str | Path, write: Callable[[IO], object], binary: bool = True) -> None:
    """Call write(f) on a temp file and rename it over `path` (e.g. write=lambda f: torch.save(obj, f))."""
    with atomic_open(path, "wb" if binary else "w") as f:
        write(f)


def _fsync_dir(folder: Path) -> None:
    # The rename itself is durable only once the folder's entry is synced; not every OS allows it.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _explain(err: OSError, path: Path) -> OutputFolderError:
    if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        why = "the disk is full (the previous version of the file, if any, is intact): free space and re-run"
    elif err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = "the folder is not writable: fix its permissions or choose another output folder"
    elif err.errno in (errno.EEXIST, errno.ENOTDIR):
        why = "a file is in the way of its folder: move that file or choose another output folder"
    else:
        return OutputFolderError(f"Cannot write {path}: {err.strerror or err}.")
    return OutputFolderError(f"Cannot write {path}: {why} ({err.strerror}).")
