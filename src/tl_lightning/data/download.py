"""Fetch the assignment's dataset: download, verify, extract safely, move into place atomically."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

from tl_lightning import progress
from tl_lightning.data.layout import LAYOUT, SPLITS, DatasetError, has_split_dirs

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


def ensure_dataset(root: Path, download: bool = True, url: str = URL, sha256: str | None = CONTENT_SHA256) -> Path:
    """Return `root` holding train/ and val/, downloading the archive there if it is absent."""
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
    with open(lock_path, "w") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _remove_stale_downloads(root: Path) -> None:
    # A killed download leaves its temp folder behind; under the lock nobody else is using it.
    for stale in root.parent.glob(f"{TMP_PREFIX}{root.name}-*"):
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
    try:
        with urlopen(url, timeout=60) as response, open(dest, "wb") as f:
            headers = getattr(response, "headers", None)  # absent on some file-like responses
            size = headers.get("Content-Length") if headers else None
            with progress.byte_bar(int(size) if size else None, "dataset") as bar:
                while chunk := response.read(1 << 20):
                    f.write(chunk)
                    bar.update(len(chunk))
    except (URLError, OSError) as err:
        raise DatasetError(
            f"No dataset at data.root={root} and the download from {url} failed ({err}).\n"
            f"Offline: unzip the archive elsewhere and pass data.root=/path/to/hymenoptera_data "
            f"or set TL_DATA_DIR to it."
        ) from err


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
