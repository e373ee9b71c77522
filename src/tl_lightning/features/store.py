"""The feature store: frozen activations on disk, shared by every run on the machine (or a shared filesystem).

An entry is the activations of one batch of the frozen pass, named by the sha256 of everything that determines
its numbers (features/keys.py). The batch, not the lone image, is the unit because some CPU kernels give an image
other last bits in another batch (measured: AlexNet fp32 NCHW, MobileNetV2), so an entry holds what one pass
over exactly those images, in that order, computed.

Safe before fast: an entry is written to a temp file and renamed (a reader never sees half of one); its header
repeats its key and the sha256 of its payload, and a read that does not match (truncated, edited, foreign, not
a regular file) is named once in the log and computed again. Jobs that need the same entries take one lock per
pass, so they are computed once. The store is bounded: past `max_bytes` the least recently used entries go.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from tl_lightning.data.cache import cache_dir
from tl_lightning.errors import UserError
from tl_lightning.files import atomic_open

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; two jobs may then compute the same entries (both exact)
    fcntl = None

log = logging.getLogger(__name__)

MAGIC = b"TL-FEATURES 1\n"
SUFFIX = ".f32"
_HEADER_LIMIT = 4096
STALE_TEMP_S = 24 * 3600  # a writer holds its temp file for seconds; one this old was left by a killed job


def default_root() -> Path:
    return cache_dir() / "features"


class FeatureStore:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root, self.max_bytes = Path(root), int(max_bytes)
        self._named: set[Path] = set()  # bad entries already named in the log

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}{SUFFIX}"

    def read(self, key: str) -> torch.Tensor | None:
        """The verified entry `key`, or None (absent, or not what it claims: named once, then recomputed)."""
        path = self.path(key)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            return None
        except OSError as err:
            return self._bad(path, err.strerror or str(err))
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return self._bad(path, "not a regular file")
        with os.fdopen(fd, "rb") as f:
            data = f.read()
        entry = _decode(data, key)
        if isinstance(entry, str):
            return self._bad(path, entry)
        with contextlib.suppress(OSError):
            os.utime(path)  # the mtime is the last use: eviction goes by it (atime is often not kept)
        return entry

    def write(self, key: str, tensor: torch.Tensor) -> None:
        payload = tensor.detach().cpu().float().contiguous().numpy().tobytes()
        header = {"key": key, "shape": list(tensor.shape), "sha256": hashlib.sha256(payload).hexdigest()}
        path = self.path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_open(path, "wb", inside=self.root) as f:
                f.write(MAGIC + json.dumps(header).encode() + b"\n")
                f.write(payload)
        except (OSError, UserError) as err:  # a full disk, or something planted there: the run goes on without it
            if path not in self._named:
                self._named.add(path)
                log.warning("Feature store: entry %s not stored (%s).", path, str(err).splitlines()[0])

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Exclusive across processes (and hosts, where the filesystem supports flock) while entries are filled."""
        if fcntl is None:
            yield
            return
        folder = self.root / "locks"
        folder.mkdir(parents=True, exist_ok=True)
        # O_NOFOLLOW and no O_TRUNC: a link planted as the lock file is refused, and nothing is ever truncated.
        fd = os.open(folder / f"{name}.lock", os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock; the OS does so too if the process dies

    def entries(self) -> list[tuple[Path, os.stat_result]]:
        """Every entry file (regular, named as this store names them), oldest use first."""
        found = []
        for folder in self.root.glob("??"):
            for path in folder.glob(f"*{SUFFIX}"):
                with contextlib.suppress(OSError):
                    info = path.lstat()
                    if stat.S_ISREG(info.st_mode):
                        found.append((path, info))
        return sorted(found, key=lambda item: item[1].st_mtime_ns)

    def usage(self) -> tuple[int, int]:
        """(entries, bytes)."""
        entries = self.entries()
        return len(entries), sum(info.st_size for _, info in entries)

    def remove_stale_temps(self) -> None:
        """Remove the temp files of writers killed mid-entry (atomic_open's `.<entry>.<random>.tmp`, a day old,
        empty or holding the store's header): nothing reads them. Eviction and clear call it."""
        now = time.time()
        for path in self.root.glob(f"??/.*{SUFFIX}.*.tmp"):
            with contextlib.suppress(OSError):
                info = path.lstat()
                old = stat.S_ISREG(info.st_mode) and now - info.st_mtime > STALE_TEMP_S
                if old and (info.st_size == 0 or _is_entry(path)):
                    path.unlink()

    def evict(self, keep: set[str]) -> int:
        """Remove stale temp files, then least recently used entries until the store fits max_bytes; `keep`
        (this run's) stay. Returns how many entries went."""
        self.remove_stale_temps()
        entries = self.entries()
        total, removed = sum(info.st_size for _, info in entries), 0
        for path, info in entries:
            if total <= self.max_bytes:
                break
            if path.name.removesuffix(SUFFIX) in keep or not _is_entry(path):
                continue
            with contextlib.suppress(FileNotFoundError):  # another job evicted it first
                path.unlink()
                removed += 1
            total -= info.st_size
        return removed

    def clear(self) -> tuple[int, int]:
        """Remove every entry; returns (entries, bytes) removed. Files the store did not write stay."""
        count = size = 0
        self.remove_stale_temps()
        for path, info in self.entries():
            if _is_entry(path):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    count, size = count + 1, size + info.st_size
        return count, size

    def _bad(self, path: Path, why: str) -> None:
        if path not in self._named:
            self._named.add(path)
            log.warning("Feature store: %s is not a valid entry (%s); computing it again.", path, why)
        return None


def _decode(data: bytes, key: str) -> torch.Tensor | str:
    """The entry's tensor, or why `data` is not entry `key`."""
    if not data.startswith(MAGIC):
        return "no feature-store header"
    line, newline, payload = data[len(MAGIC) : len(MAGIC) + _HEADER_LIMIT].partition(b"\n")
    if not newline:
        return "truncated header"
    try:
        header = json.loads(line)
        shape = [int(n) for n in header["shape"]]
    except (ValueError, KeyError, TypeError):
        return "unreadable header"
    if header.get("key") != key:
        return "it holds another key (a foreign or renamed file)"
    payload = data[len(MAGIC) + len(line) + 1 :]
    if len(payload) != 4 * int(np.prod(shape)):
        return f"{len(payload)} bytes of data where {shape} needs {4 * int(np.prod(shape))} (truncated?)"
    if hashlib.sha256(payload).hexdigest() != header.get("sha256"):
        return "its data does not match its checksum (edited or damaged)"
    return torch.frombuffer(bytearray(payload), dtype=torch.float32).reshape(shape)


def _is_entry(path: Path) -> bool:
    """Whether `path` starts as an entry this store wrote: eviction and clear remove nothing else."""
    try:
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False
