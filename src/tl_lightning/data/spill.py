"""Where decoded images go above data.memory_limit_mb: a memory-mapped file that belongs to this run alone.

The file gets a fresh unique name (created with O_EXCL), so no other run can open, truncate or rewrite it
under this run's mapping, whatever data it reads. Its whole size is reserved before the first image is
written, so a full disk is one message here rather than a Bus error when a page is first touched. Its name
is removed as soon as it is mapped (POSIX keeps the pages until the mapping goes), so the disk space comes
back when the run ends, also after a crash or kill -9; where the OS forbids that (Windows) it is removed
when the images are freed, or at exit.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
import weakref
from pathlib import Path

import numpy as np

from tl_lightning.data.cache import cache_dir
from tl_lightning.data.layout import DatasetError

_ZEROS = 64 * 2**20  # the chunk written where posix_fallocate is missing (macOS)


class SpillError(DatasetError):
    """The decoded images cannot be spilled to TL_CACHE_DIR (unwritable, or not enough free space)."""


def spill_array(size: int) -> np.ndarray:
    """A writable uint8 array of `size` bytes backed by a private file in the cache folder."""
    folder = cache_dir()
    if size == 0:
        return np.empty(0, dtype=np.uint8)  # nothing to map (mmap refuses an empty file)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(folder).free
        fd, name = tempfile.mkstemp(dir=folder, prefix="decoded-", suffix=".u8")
    except OSError as err:
        raise SpillError(_message(size, folder, err.strerror or str(err))) from err
    if free < size:
        os.close(fd)
        _remove(name)
        raise SpillError(_message(size, folder, f"{free / 2**20:,.0f} MB free there"))
    try:
        try:
            _reserve(fd, size)
        finally:
            os.close(fd)
        array = np.memmap(name, dtype=np.uint8, mode="r+", shape=(size,))
    except OSError as err:
        _remove(name)
        why = f"{err.strerror}: the disk filled up" if err.errno in (errno.ENOSPC, errno.EDQUOT) else err.strerror
        raise SpillError(_message(size, folder, why or str(err))) from err
    try:
        os.unlink(name)  # the mapping keeps the pages; the name, and later the space, go with this process
    except OSError:
        weakref.finalize(array, _remove, name)
    return array


def _reserve(fd: int, size: int) -> None:
    """Allocate every block now: writing into a sparse mapping on a full disk kills the process with SIGBUS."""
    if hasattr(os, "posix_fallocate"):
        try:
            os.posix_fallocate(fd, 0, size)
            return
        except OSError as err:
            if err.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise
    zeros = memoryview(bytes(min(size, _ZEROS)))
    done = 0
    while done < size:
        done += os.write(fd, zeros[: size - done])


def _remove(name: str) -> None:
    with contextlib.suppress(OSError):  # already gone, or still mapped on Windows
        os.unlink(name)


def _message(size: int, folder: Path, why: str) -> str:
    return (
        f"Cannot spill {size / 2**20:,.0f} MB of decoded images to {folder} ({why}): point TL_CACHE_DIR at a "
        f"writable folder with {size / 2**20:,.0f} MB free, or raise data.memory_limit_mb to keep them in RAM."
    )
