"""One run per run folder: a second process started into the same folder is refused instead of mixing artifacts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tl_lightning.errors import UserError
from tl_lightning.run.ranks import is_launcher

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; concurrent runs into one folder are then unguarded
    fcntl = None

LOCK_NAME = ".tl-run.lock"


class RunFolderBusyError(UserError):
    """Another process is training into this run folder."""


@contextmanager
def run_folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on `folder` for the run. The OS releases it when the process dies, even by kill -9,
    so a killed run never leaves a stale lock behind. Only the launching process (DDP rank 0) takes it."""
    if fcntl is None or not is_launcher():
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_NAME, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            raise RunFolderBusyError(
                f"Run folder {folder} is in use by {holder}: two runs in one folder would mix their checkpoints "
                f"and artifacts. Wait for it to finish, or give this run its own hydra.run.dir / hydra.sweep.dir."
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"pid {os.getpid()}\n")
        lock.flush()
        yield
