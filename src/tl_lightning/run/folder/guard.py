"""A refused run removes only what it created in its run folder, and never touches a folder another run holds.

Hydra makes the run folder, writes .hydra/ and opens the log before the task starts. So what the folder held
before is recorded at that earlier moment (RunFolderGuard.on_run_start, a Hydra callback in
conf/hydra/default.yaml), and a run refused for bad input then removes exactly the entries it added (the folder
too, if it made it) and puts back the .hydra/ files it overwrote in a folder it reused (a finished run's
record). A folder whose run lock another process holds is refused there, before Hydra writes into it.
Without that record (the callback not configured) a refusal removes nothing.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from tl_lightning.errors import BAD_INPUT_EXIT, UserError
from tl_lightning.files import atomic_write
from tl_lightning.run.folder.lock import (
    LOCK_NAME,
    RunFolderBusyError,
    busy_message,
    is_launcher,
    lock_holder,
    run_folder_lock,
)

# .hydra/ files larger than this are not Hydra's (a few kB each); they are left alone rather than held in RAM.
_MAX_RECORD_BYTES = 1 << 20


class OtherRunsFolder(UserError):
    """The run folder holds another experiment's results; nothing of it was changed (run/recovery/one_experiment.py)."""


@dataclass(frozen=True)
class FolderState:
    existed: bool
    names: frozenset[str]  # the folder's entries
    hydra_files: dict[str, bytes]  # .hydra/<name> -> bytes (a sweep folder: multirun.yaml -> bytes)
    hydra_names: frozenset[str]  # every entry of that .hydra/
    missing_parents: tuple[str, ...] = ()  # folders above it that did not exist either (outputs/runs/), deepest first


_BEFORE: dict[str, FolderState] = {}  # absolute run folder -> its state before this process's run started
_STARTED: list[str] = []  # the run folder this process's run started in (on_run_start)
_SWEEPS: dict[str, FolderState] = {}  # absolute sweep folder -> its state before this process's sweep started
# What a sweep's start adds to its folder before any job runs: Hydra's multirun.yaml, submitit's job files.
_SWEEP_BOOKKEEPING = ("multirun.yaml", ".submitit")


class RunFolderGuard(Callback):
    """Hydra callback: refuse a run folder in use before Hydra writes into it; record what it holds."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not is_launcher():  # a DDP rank that Lightning started into the launcher's (locked) run folder
            return
        try:
            folder = Path(os.path.abspath(str(config.hydra.run.dir)))
        except Exception:  # an interpolation that does not resolve yet: Hydra reports it; nothing is removed later
            return
        if (holder := lock_holder(folder)) is not None:
            # Hydra turns a callback's exception into a warning; SystemExit passes.
            print(f"error: {busy_message(folder, holder)}", file=sys.stderr)
            raise SystemExit(BAD_INPUT_EXIT)
        _BEFORE[str(folder)] = folder_state(folder)
        _STARTED.append(str(folder))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # Hydra writes a job's .hydra/ before any job callback runs, so the sweep's existing job folders are
        # recorded now: a job refused for landing on another run's folder puts that run's record back.
        try:
            sweep = Path(os.path.abspath(str(config.hydra.sweep.dir)))
        except Exception:  # an interpolation that does not resolve yet: nothing recorded, nothing restored
            return
        _SWEEPS[str(sweep)] = folder_state(sweep, record="multirun.yaml")
        if sweep.is_dir() and not sweep.is_symlink():
            for child in sweep.iterdir():
                if child.is_dir() and not child.is_symlink():
                    _BEFORE[str(child)] = folder_state(child)


def undo_run_start() -> None:
    """After a failure before the task ran (a full disk while Hydra wrote .hydra/ or opened the log): remove what
    this process's run start added to its run folder and put back the .hydra/ files it overwrote, as for a refused
    run. Best effort: a folder another process holds, or a write that fails again, is left as it is."""
    for folder in _STARTED:
        try:
            with run_folder_lock(Path(folder)):
                remove_created(Path(folder))
        except (OSError, RunFolderBusyError, UserError):
            continue


def restore_record(out: Path) -> None:
    """Put back the .hydra/ files of `out` as they were before this process's run (no-op without a record)."""
    before = _BEFORE.get(os.path.abspath(out))
    if before is not None:
        _restore_record(out / ".hydra", before)


def folder_state(folder: Path, record: str = ".hydra") -> FolderState:
    """What `folder` holds; with the bytes of the files in its `record` folder (or of the `record` file)."""
    if not folder.is_dir():
        missing = tuple(str(p) for p in folder.parents if not p.exists())
        return FolderState(False, frozenset(), {}, frozenset(), missing)
    path = folder / record
    files, names = {}, frozenset()
    if path.is_dir() and not path.is_symlink():
        names = frozenset(os.listdir(path))
        for entry in path.iterdir():
            if entry.is_file() and not entry.is_symlink() and entry.stat().st_size <= _MAX_RECORD_BYTES:
                files[entry.name] = entry.read_bytes()
    elif path.is_file() and not path.is_symlink() and path.stat().st_size <= _MAX_RECORD_BYTES:
        files[record] = path.read_bytes()
    return FolderState(True, frozenset(os.listdir(folder)), files, names)


def remove_created_sweep(sweep: Path) -> None:
    """Undo the start of a sweep refused before any job was submitted: remove the multirun.yaml and submitit
    folder this process added (or put back the multirun.yaml it overwrote), then the sweep folder and the
    folders above it if this process made them and they are empty. No-op without a record (on_multirun_start)."""
    before = _SWEEPS.get(os.path.abspath(sweep))
    if before is None or not sweep.is_dir() or sweep.is_symlink():
        return
    for name in _SWEEP_BOOKKEEPING:
        path = sweep / name
        if name in before.hydra_files:  # a resumed sweep's record, overwritten by Hydra
            if not path.is_file() or path.read_bytes() != before.hydra_files[name]:
                atomic_write(path, lambda f, data=before.hydra_files[name]: f.write(data))
        elif name not in before.names and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        elif name not in before.names and (path.is_file() or path.is_symlink()):
            path.unlink(missing_ok=True)
    if not before.existed:
        _remove_empty(sweep, before)


def _remove_empty(folder: Path, before: FolderState) -> None:
    for path in (folder, *map(Path, before.missing_parents)):  # the dated folder, then outputs/runs/, outputs/
        try:  # only if empty: something that appeared meanwhile stays
            path.rmdir()
        except OSError:
            break


def remove_created(out: Path) -> None:
    """Undo what this refused run did to `out`, called while this process holds its lock: remove the entries it
    added (when they are only Hydra's bookkeeping and the lock: no work was done) and put back .hydra/."""
    before = _BEFORE.get(os.path.abspath(out))
    if before is None or not out.is_dir():
        return
    added = [p for p in out.iterdir() if p.name not in before.names]
    if any(not _bookkeeping(p) for p in added):
        return  # the run did work (a checkpoint, an event file): keep all of it
    _restore_record(out / ".hydra", before)
    for path in added:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    if not before.existed:
        _remove_empty(out, before)


def _restore_record(record: Path, before: FolderState) -> None:
    """Put back the .hydra/ of a reused folder: the files this run's Hydra overwrote or added there."""
    if ".hydra" not in before.names or not record.is_dir() or record.is_symlink():
        return
    for name, data in before.hydra_files.items():
        path = record / name
        if not path.is_file() or path.read_bytes() != data:
            atomic_write(path, lambda f, data=data: f.write(data))
    for path in record.iterdir():
        if path.name not in before.hydra_names and path.is_file():
            path.unlink(missing_ok=True)


def _bookkeeping(path: Path) -> bool:
    return path.name in (".hydra", LOCK_NAME) or path.suffix == ".log"
