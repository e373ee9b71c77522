"""One run per run folder: a second process started into the same folder is refused instead of mixing artifacts."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tl_lightning.errors import UserError
from tl_lightning.files import open_lock
from tl_lightning.run.launch.ranks import is_launcher

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; concurrent runs into one folder are then unguarded
    fcntl = None

LOCK_NAME = ".tl-run.lock"


class RunFolderBusyError(UserError):
    """Another process is training into this run folder."""


# Folders (absolute paths) whose lock this process holds: taking it again (run_task, then train) is a no-op.
_HELD: set[str] = set()


@contextmanager
def run_folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on `folder` for the run. The OS releases it when the process dies, even by kill -9,
    so a killed run never leaves a stale lock behind. Only the launching process (DDP rank 0) takes it."""
    key = os.path.abspath(folder)
    if fcntl is None or not is_launcher() or key in _HELD:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    if path.exists() and not path.is_file():  # a FIFO or device planted there: no lock file of this package
        raise UserError(f"{path} is not a regular file, so it cannot be this run folder's lock: remove it.")
    with open_lock(path) as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            raise RunFolderBusyError(busy_message(folder, lock.read().strip())) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"pid {os.getpid()}\n")
        lock.flush()
        _HELD.add(key)
        try:
            yield
        finally:
            _HELD.discard(key)


def lock_holder(folder: Path) -> str | None:
    """Who holds `folder`'s run lock ("pid N"), or None when nobody does; creates nothing, never blocks."""
    if fcntl is None or os.path.abspath(folder) in _HELD:
        return None
    try:  # O_NONBLOCK: a FIFO planted as the lock file must not hang the run
        fd = os.open(folder / LOCK_NAME, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None  # no lock file (or no folder): nobody holds it
    with os.fdopen(fd, "rb") as lock:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None  # not a lock this package wrote; run_folder_lock decides
        try:
            fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return lock.read(200).decode(errors="replace").strip() or "another process"
        except OSError:
            return None
        fcntl.flock(lock, fcntl.LOCK_UN)
    return None


def busy_message(folder: Path, holder: str) -> str:
    return (
        f"Run folder {folder} is in use by {holder or 'another process'}: two runs in one folder would mix their "
        f"checkpoints and artifacts. Wait for it to finish, or give this run its own hydra.run.dir / hydra.sweep.dir."
    )
