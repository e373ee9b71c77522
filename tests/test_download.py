"""The dataset download: verified, atomic, zip-slip safe, and clean after a failed or killed attempt."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from tl_lightning.data import download
from tl_lightning.data.download import DatasetError, content_digest, ensure_dataset


def leftovers(parent: Path) -> list[Path]:
    return list(parent.glob(f"{download.TMP_PREFIX}*"))


def test_download_verifies_and_moves_into_place(tmp_path, archive):
    url, digest = archive
    root = tmp_path / "cache" / "data"
    assert ensure_dataset(root, url=url, sha256=digest) == root
    assert len(list((root / "train" / "ants").iterdir())) == 2
    assert not leftovers(root.parent)


def test_checksum_mismatch_leaves_nothing_behind(tmp_path, archive):
    url, _ = archive
    root = tmp_path / "cache" / "data"
    with pytest.raises(DatasetError, match=r"failed verification: content sha256 \w+, expected 0{64}"):
        ensure_dataset(root, url=url, sha256="0" * 64)
    assert not root.exists() and not leftovers(root.parent)


class DroppedConnection(io.BytesIO):
    """A response that breaks half way, like a dropped connection."""

    def read(self, n: int = -1) -> bytes:
        if self.tell() > len(self.getvalue()) // 2:
            raise ConnectionResetError("connection reset by peer")
        return super().read(min(n, 1024) if n and n > 0 else 1024)


def test_partial_download_never_becomes_the_dataset_and_a_rerun_starts_clean(tmp_path, archive, monkeypatch):
    url, digest = archive
    root = tmp_path / "cache" / "data"
    payload = Path(url.removeprefix("file://")).read_bytes()
    monkeypatch.setattr(download, "urlopen", lambda *a, **k: DroppedConnection(payload))
    with pytest.raises(DatasetError, match="connection reset"):
        ensure_dataset(root, url=url, sha256=digest)
    assert not root.exists() and not leftovers(root.parent)

    monkeypatch.undo()
    ensure_dataset(root, url=url, sha256=digest)
    assert content_digest(root) == digest


def test_rerun_after_a_killed_download_removes_its_leftovers(tmp_path, archive):
    url, digest = archive
    root = tmp_path / "cache" / "data"
    # What SIGKILL during extraction leaves: a half-filled temp folder that no cleanup ran on.
    stale = root.parent / f"{download.TMP_PREFIX}{root.name}-killed"
    (stale / "x" / "train" / "ants").mkdir(parents=True)
    (stale / "archive.zip").write_bytes(b"PK\x03\x04 half an archive")
    ensure_dataset(root, url=url, sha256=digest)
    assert not stale.exists() and content_digest(root) == digest


@pytest.mark.parametrize("member", ["../escaped.txt", "hymenoptera_data/../../escaped.txt", "/tmp/escaped.txt"])
def test_zip_slip_members_are_refused(tmp_path, member):
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("hymenoptera_data/train/ants/a.jpg", b"x")
        zf.writestr(member, b"owned")
    root = tmp_path / "deep" / "cache" / "data"
    with pytest.raises(DatasetError, match="Refusing archive member"):
        ensure_dataset(root, url=path.as_uri(), sha256=None)
    assert not root.exists() and not list(tmp_path.rglob("escaped.txt"))
    assert not Path("/tmp/escaped.txt").exists()


def test_a_zip_without_train_and_val_is_rejected(tmp_path):
    path = tmp_path / "flat.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("pictures/a.jpg", b"x")
    with pytest.raises(DatasetError, match="no folder with train/ and val/"):
        ensure_dataset(tmp_path / "data", url=path.as_uri(), sha256=None)
