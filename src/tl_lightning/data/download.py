"""Fetch the assignment's dataset: download, verify, extract safely, move into place atomically."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from http.client import HTTPResponse
from pathlib import Path
from typing import IO
from urllib.error import URLError
from urllib.request import urlopen

from tl_lightning import progress
from tl_lightning.data.layout import LAYOUT, SPLITS, DatasetError, has_split_dirs
from tl_lightning.files import open_lock

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; concurrent downloads of one root are then unguarded
    fcntl = None

URL = "https://download.pytorch.org/tutorial/hymenoptera_data.zip"
# No checksum of the archive is published, so we verify what matters: the extracted files.
# sha256 over (relative path, sha256 of bytes) of all 398 files under train/ and val/.
CONTENT_SHA256 = "c415c930edc58a3d84c6f6b2c058ca7ea03038a196f05330aa86b3249cf557b7"

# Extraction folders of an interrupted download start with this, beside data.root.
TMP_PREFIX = ".tl-download-"
# data.download=auto downloads only into this root (the config's default, relative to the working folder): a
# missing data.root elsewhere is more likely a typo than a wish to download 47 MB there.
DEFAULT_ROOT = Path("data/hymenoptera_data")
# Bounds against a hostile or broken server: the real archive is 47 MB and extracts to 47 MB.
MAX_SECONDS = 1800  # the whole download, not per read: a server trickling one byte a minute is cut off too
MAX_ARCHIVE_BYTES = 512 * 2**20
MAX_EXTRACTED_BYTES = 1024 * 2**20  # summed from the zip directory before anything is extracted
MAX_MEMBERS = 20_000  # the dataset has about 400 entries; millions of empty ones would exhaust inodes instead


def ensure_dataset(
    root: Path, download: bool | str = True, url: str = URL, sha256: str | None = CONTENT_SHA256
) -> Path:
    """Return `root` holding train/ and val/, downloading the archive there if it is absent.

    download: True (asked for explicitly: any root), "auto" (only into DEFAULT_ROOT), or False.
    """
    root = Path(root)
    if has_split_dirs(root):
        return root
    if root.exists() and not root.is_dir():
        raise DatasetError(f"data.root={root} is a file, not a folder: {LAYOUT}.")
    if root.is_dir() and any(root.iterdir()):
        missing = " and ".join(f"{s}/" for s in ("train", "val") if not (root / s).is_dir())
        raise DatasetError(f"data.root={root} has no {missing} folder: {LAYOUT}.")
    if not download:
        raise DatasetError(f"data.root={root} does not exist and data.download=false: {LAYOUT}.")
    if download == "auto" and root.resolve() != DEFAULT_ROOT.resolve():
        raise DatasetError(
            f"data.root={root} does not exist. The dataset is downloaded automatically only into the default "
            f"data.root={DEFAULT_ROOT}, so nothing was downloaded: if {root} is a typo, fix it; to download the "
            f"dataset into {root}, pass data.download=true."
        )
    root.parent.mkdir(parents=True, exist_ok=True)
    with download_lock(root):
        if has_split_dirs(root):  # another process finished it while we waited for the lock
            return root
        _remove_stale_downloads(root)
        return _download_into(root, url, sha256)


@contextmanager
def download_lock(root: Path) -> Iterator[None]:
    """Serialise downloads of one root across processes (parallel sweep jobs on a cluster)."""
    lock_path = root.parent / f".{root.name}.download.lock"
    while True:
        lock = open_lock(lock_path)
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        if _same_file(lock, lock_path):
            break
        lock.close()  # its holder removed the file meanwhile: lock the one at the name now
    try:
        yield
    finally:
        # Removed while held, so no lock file is left behind; a waiter on the removed file sees that and retries.
        lock_path.unlink(missing_ok=True)
        lock.close()


def _same_file(handle: IO, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.lstat(path))
    except OSError:
        return False


def _remove_stale_downloads(root: Path) -> None:
    # A killed download leaves its temp folder behind; under the lock nobody else is using it. Only this root's:
    # the sibling root `data-v2` has `.tl-download-data-v2-<random>`, which `data-*` would match, so the random
    # part must hold no `-` (tempfile's names do not).
    mine = re.compile(re.escape(f"{TMP_PREFIX}{root.name}-") + r"[a-z0-9_]+")
    for stale in root.parent.glob(f"{TMP_PREFIX}{root.name}-*"):
        if mine.fullmatch(stale.name):
            shutil.rmtree(stale, ignore_errors=True)


def _download_into(root: Path, url: str, sha256: str | None) -> Path:
    with tempfile.TemporaryDirectory(dir=root.parent, prefix=f"{TMP_PREFIX}{root.name}-") as tmp:
        archive = Path(tmp) / "archive.zip"
        _download(url, archive, root)
        extracted = _safe_extract(archive, Path(tmp) / "x")
        if sha256 is not None:
            digest = content_digest(extracted)
            if digest != sha256:
                raise DatasetError(
                    f"Downloaded dataset from {url} failed verification: content sha256 {digest}, expected {sha256}. "
                    f"Nothing was written to data.root={root}; re-run to retry."
                )
        if root.is_dir():
            root.rmdir()  # empty, checked above
        extracted.rename(root)  # same filesystem: atomic, so a half-extracted tree never becomes the dataset
    return root


def _download(url: str, dest: Path, root: Path) -> None:
    print(f"Downloading {url} -> {root}")
    deadline, received = time.monotonic() + MAX_SECONDS, 0
    try:
        with urlopen(url, timeout=min(60, MAX_SECONDS)) as response, open(dest, "wb") as f:
            headers = getattr(response, "headers", None)  # absent on some file-like responses
            size = headers.get("Content-Length") if headers else None
            # http's read(n) waits for all n bytes, each recv within the timeout; read1 returns what one recv got.
            read = response.read1 if isinstance(response, HTTPResponse) else response.read
            with progress.byte_bar(int(size) if size else None, "dataset") as bar:
                while chunk := read(1 << 16):
                    received += len(chunk)
                    _check_bounds(url, root, received, deadline)
                    f.write(chunk)
                    bar.update(len(chunk))
    except (URLError, OSError) as err:
        raise DatasetError(
            f"No dataset at data.root={root} and the download from {url} failed ({err}).\n"
            f"Offline: unzip the archive elsewhere and pass data.root=/path/to/hymenoptera_data "
            f"or set TL_DATA_DIR to it."
        ) from err


def _check_bounds(url: str, root: Path, received: int, deadline: float) -> None:
    if received > MAX_ARCHIVE_BYTES:
        raise DatasetError(
            f"The download from {url} exceeded {MAX_ARCHIVE_BYTES // 2**20} MB (the dataset is 47 MB): stopped, "
            f"nothing was written to data.root={root}. Check the URL, or unzip a known-good copy yourself."
        )
    if time.monotonic() > deadline:
        raise DatasetError(
            f"The download from {url} took longer than {MAX_SECONDS} s ({received} bytes received): stopped, "
            f"nothing was written to data.root={root}. Re-run on a better connection, or unzip a copy yourself."
        )


def _safe_extract(archive: Path, dest: Path) -> Path:
    """Extract refusing absolute paths and `..`; return the folder that holds train/ and val/."""
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as err:
        raise DatasetError(f"Downloaded file is not a zip archive: {err}") from err
    with zf:
        for member in zf.namelist():
            parts = Path(member).parts
            if member.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
                raise DatasetError(f"Refusing archive member {member!r}: it would extract outside {dest}.")
        declared, members = sum(info.file_size for info in zf.infolist()), len(zf.infolist())
        if declared > MAX_EXTRACTED_BYTES or members > MAX_MEMBERS:  # a zip bomb: refused before a byte is written
            raise DatasetError(
                f"Refusing the downloaded archive: it would extract to {declared:,} bytes in {members:,} entries, "
                f"more than the {MAX_EXTRACTED_BYTES:,} bytes or {MAX_MEMBERS:,} entries allowed (the dataset is "
                f"47 MB in about 400 files). Do not use it."
            )
        zf.extractall(dest)
    for candidate in [dest, *sorted(p for p in dest.rglob("*") if p.is_dir())]:
        if has_split_dirs(candidate):
            return candidate
    raise DatasetError("The downloaded archive holds no folder with train/ and val/.")


def content_digest(root: Path) -> str:
    h = hashlib.sha256()
    files = sorted(p for split in SPLITS for p in (root / split).rglob("*") if p.is_file())
    for p in files:
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()
