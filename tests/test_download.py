"""Dataset fetching: verified, extracted safely, moved into place atomically, clear offline errors."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tl_lightning.download import DatasetError, content_digest, ensure_dataset

from .conftest import write_image_folder


def make_archive(tmp_path: Path, extra: dict[str, bytes] | None = None) -> tuple[str, str]:
    src = write_image_folder(tmp_path / "src" / "hymenoptera_data", {"train": 2, "val": 1})
    archive = tmp_path / "data.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(src.rglob("*")):
            if f.is_file():
                zf.write(f, f.relative_to(src.parent).as_posix())
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return archive.as_uri(), content_digest(src)


def test_download_verifies_and_extracts(tmp_path):
    url, digest = make_archive(tmp_path)
    root = ensure_dataset(tmp_path / "data" / "hymenoptera_data", url=url, sha256=digest)
    assert sorted(p.name for p in (root / "train").iterdir()) == ["ants", "bees"]
    assert not list((tmp_path / "data").glob(".tl-download-*"))  # temp dir cleaned


def test_checksum_mismatch_leaves_no_dataset(tmp_path):
    url, _ = make_archive(tmp_path)
    root = tmp_path / "data" / "hymenoptera_data"
    with pytest.raises(DatasetError, match="failed verification"):
        ensure_dataset(root, url=url, sha256="0" * 64)
    assert not root.exists() and not list((tmp_path / "data").glob(".tl-download-*"))
    ensure_dataset(root, url=url, sha256=None)  # a re-run starts clean and succeeds
    assert (root / "val" / "bees").is_dir()


@pytest.mark.parametrize("member", ["../evil.txt", "/abs/evil.txt", "hymenoptera_data/../../evil.txt"])
def test_zip_slip_members_are_refused(tmp_path, member):
    url, _ = make_archive(tmp_path, extra={member: b"x"})
    with pytest.raises(DatasetError, match="Refusing archive member"):
        ensure_dataset(tmp_path / "data" / "hymenoptera_data", url=url, sha256=None)
    assert not (tmp_path / "evil.txt").exists()


def test_offline_error_names_data_root_and_env_var(tmp_path):
    root = tmp_path / "nowhere" / "hymenoptera_data"
    with pytest.raises(DatasetError, match=r"data.root=.*hymenoptera_data.*TL_DATA_DIR"):
        ensure_dataset(root, url=(tmp_path / "missing.zip").as_uri())


def test_existing_folder_without_splits_is_not_overwritten(tmp_path):
    root = tmp_path / "mine"
    (root / "images").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"lacks train/ or val/"):
        ensure_dataset(root, url="file:///nonexistent.zip")
    assert (root / "images").is_dir()
