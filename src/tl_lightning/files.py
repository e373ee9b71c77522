"""The package's file boundary: atomic writes that never write through a symbolic link, and bounded reads of
regular files only. Every layer uses it, so it imports nothing of the package but the error base class.

Writes go to a temp file in the target's folder, fsync, rename: a kill -9 or a full disk in the middle leaves at
most a `.<name>.*.tmp` beside the target (removed on failure), and the target is always either the old complete
file or the new complete one. The temp file sits in the same folder because a rename is only atomic within one
filesystem. With `inside=` a folder the caller owns (a sweep folder), a symbolic link anywhere between that folder
and the target is refused: the report must never change what a planted link points to (`summary.csv ->
~/thesis.txt`) nor write figures into a linked folder (`report_figures -> ~/Pictures`).

Reads open the file without blocking and check what was opened (fstat), so a FIFO, a device (`/dev/zero`) or a
file larger than the caller's bound is refused with a reason instead of hanging or filling memory.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from tl_lightning.errors import UserError

# mkstemp creates 0600 files; a written output gets the mode a plain open() would give it (0666 less the umask).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


class OutputFolderError(UserError):
    """An output file could not be written (read-only folder, full disk, a symbolic link in the way)."""


class RefusedFile(OSError):
    """A file that is not a regular file of bounded size; an OSError, so readers' OSError handlers catch it."""


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", inside: str | Path | None = None, **kwargs) -> Iterator[IO]:
    """Like open(path, mode) for writing, but `path` only changes once the block has finished without error.

    inside: a folder the caller owns; a symbolic link from there down to `path` is refused (OutputFolderError).
    """
    path = Path(path)
    fd, tmp = _temp_beside(path, inside)
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the name points at them
        _commit(tmp, path)
    except BaseException as err:
        _abandon(tmp, path, err)
        raise


@contextmanager
def atomic_path(path: str | Path, inside: str | Path | None = None) -> Iterator[Path]:
    """A temp file name beside `path`, for writers that take a file name (torch.jit.save, ONNX), renamed over
    `path` once the block has finished without error, removed otherwise."""
    path = Path(path)
    fd, tmp = _temp_beside(path, inside)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as written:  # the writer may have replaced the file: sync what is there now
            os.fsync(written.fileno())
        _commit(tmp, path)
    except BaseException as err:
        _abandon(tmp, path, err)
        raise


def atomic_write(
    path: str | Path, write: Callable[[IO], object], binary: bool = True, inside: str | Path | None = None
) -> None:
    """Call write(f) on a temp file and rename it over `path` (e.g. write=lambda f: torch.save(obj, f))."""
    with atomic_open(path, "wb" if binary else "w", inside=inside) as f:
        write(f)


def refuse_links(path: Path, inside: Path) -> None:
    """OutputFolderError if `path` or a folder between `inside` (itself allowed: the user named it) and `path` is a
    symbolic link: writing there would change a file, or fill a folder, that the link's owner chose."""
    try:
        parts = path.relative_to(inside).parts
    except ValueError:
        parts = path.parts
        inside = Path(parts[0])
        parts = parts[1:]
    current = inside
    for part in parts:
        current = current / part
        if current.is_symlink():
            target = os.readlink(current)
            what = "it" if current == path else f"its folder {current}"
            raise OutputFolderError(
                f"Cannot write {path}: {what} is a symbolic link (to {target}), and writing would change what the "
                f"link points to. Remove the link (or move it away) and re-run."
            )


def open_lock(path: str | Path) -> IO:
    """A lock or scratch file opened for reading and writing, created if absent, never truncated and never
    through a symbolic link (O_NOFOLLOW): a link planted at a lock's name must not let the package empty or
    write what it points to. OutputFolderError for a link, a FIFO or device there, or a folder not writable."""
    path = Path(path)
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise OutputFolderError(
                f"Cannot use the lock file {path}: it is a symbolic link (to {os.readlink(path)}). Remove it and "
                f"re-run."
            ) from None
        raise _explain(err, path) from err
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OutputFolderError(f"Cannot use the lock file {path}: it is not a regular file. Remove it and re-run.")
    return os.fdopen(fd, "r+")


def read_bytes(path: str | Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes (a symbolic link to one is followed); RefusedFile for a
    FIFO, a device, a folder or a larger file, without blocking on it."""
    path = Path(path)
    _check_kind(os.stat(path), path, limit)  # before opening: opening some devices has effects
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        _check_kind(os.fstat(fd), path, limit)  # what was opened, in case the name changed since the stat
        chunks, size = [], 0
        while chunk := os.read(fd, min(1 << 20, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise RefusedFile(f"{path.name} grew past {limit:,} bytes while being read")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(path: str | Path, limit: int, errors: str = "strict") -> str:
    """read_bytes decoded as UTF-8 (UnicodeDecodeError on bad bytes with errors='strict')."""
    return read_bytes(path, limit).decode("utf-8", errors)


def is_regular(path: Path) -> bool:
    """A regular file (following links); False for FIFOs, devices, folders and missing paths."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def _check_kind(info: os.stat_result, path: Path, limit: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(info.st_mode) else "a folder" if stat.S_ISDIR(info.st_mode) else "a device"
        raise RefusedFile(f"{path.name} is {kind}, not a regular file")
    if info.st_size > limit:
        raise RefusedFile(f"{path.name} is {info.st_size:,} bytes, more than the {limit:,} allowed")


def _temp_beside(path: Path, inside: str | Path | None) -> tuple[int, str]:
    if inside is not None:
        refuse_links(path, Path(inside))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.fchmod(fd, 0o666 & ~_UMASK)
        return fd, tmp
    except OSError as err:
        raise _explain(err, path) from err


def _commit(tmp: str, path: Path) -> None:
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _abandon(tmp: str, path: Path, err: BaseException) -> None:
    """Remove the temp file; an OSError (full disk, no permission) becomes the one-line OutputFolderError."""
    Path(tmp).unlink(missing_ok=True)
    if isinstance(err, OSError):
        raise _explain(err, path) from err


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


def find_duplicates(root: Path, files: list[tuple[str, tuple[int, ...]]]) -> list[list[str]]:
    """Groups of files (paths relative to root) that are one file or hold the same bytes. `files`: (relative
    path, identity whose first item is the size), as scan.list_files gives them."""
    # Same real path (a symlinked split or file) or same bytes: either way it is one image.
    groups: dict[str, list[str]] = {}
    by_size: dict[int, list[str]] = {}
    for rel, identity in files:
        groups.setdefault(f"path:{(root / rel).resolve()}", []).append(rel)
        by_size.setdefault(identity[0], []).append(rel)
    for same_size in by_size.values():
        if len(same_size) > 1:
            for rel in same_size:
                digest = hashlib.sha256((root / rel).read_bytes()).hexdigest()
                groups.setdefault(f"sha256:{digest}", []).append(rel)
    return sorted(list(g) for g in {tuple(g) for g in groups.values() if len(g) > 1})
