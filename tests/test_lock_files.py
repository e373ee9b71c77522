"""Lock files are opened without following links and without truncating (issue 30 items 10, 11): a link planted at
a lock's name never empties what it points to, and a download leaves no lock file behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from tl_lightning.data.download import download_lock
from tl_lightning.errors import UserError
from tl_lightning.run.folder.lock import LOCK_NAME, run_folder_lock
from tl_lightning.run.launch.gpu_slots import claim


@pytest.fixture
def precious(tmp_path: Path) -> Path:
    path = tmp_path / "thesis.txt"
    path.write_text("four years of work\n")
    return path


def test_a_link_at_the_download_lock_is_refused_and_its_target_kept(tmp_path, precious):
    (tmp_path / ".data.download.lock").symlink_to(precious)
    with pytest.raises(UserError, match="is a symbolic link"), download_lock(tmp_path / "data"):
        pass
    assert precious.read_text() == "four years of work\n"


def test_a_link_at_a_gpu_slot_lock_is_refused_and_its_target_kept(tmp_path, precious):
    locks = tmp_path / "locks"
    locks.mkdir()
    (locks / "0.0.lock").symlink_to(precious)
    with pytest.raises(UserError, match="is a symbolic link"), claim(1, lock_dir=locks):
        pass
    assert precious.read_text() == "four years of work\n"


def test_a_link_at_the_run_lock_is_refused_and_its_target_kept(tmp_path, precious):
    run = tmp_path / "run"
    run.mkdir()
    (run / LOCK_NAME).symlink_to(precious)
    with pytest.raises(UserError, match="is a symbolic link"), run_folder_lock(run):
        pass
    assert precious.read_text() == "four years of work\n"


def test_a_failed_download_leaves_no_lock_file(tmp_path):
    with pytest.raises(RuntimeError), download_lock(tmp_path / "hd"):
        assert (tmp_path / ".hd.download.lock").is_file()  # held while the download runs
        raise RuntimeError("the download failed")
    assert list(tmp_path.iterdir()) == []
