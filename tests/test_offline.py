"""Offline use as a user does it: their own folders, and every missing one named in one message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tl_lightning.run.config.checks import ConfigError, check_config

REPO = Path(__file__).resolve().parents[1]


def test_a_missing_data_root_and_weights_folder_are_reported_together(make_cfg, tmp_path):
    cfg = make_cfg("alexnet", "extractor", f"data.root={tmp_path / 'no-data'}", f"arch.weights={tmp_path / 'no-w'}")
    with pytest.raises(ConfigError) as refused:
        check_config(cfg)
    message = str(refused.value)
    assert f"data.root={tmp_path / 'no-data'} does not exist" in message
    assert f"arch.weights: no file at {tmp_path / 'no-w'}" in message


def test_an_existing_data_root_or_the_default_download_is_no_problem(make_cfg, tiny_data, tmp_path):
    check_config(make_cfg("alexnet", "extractor"))  # tiny_data exists
    check_config(make_cfg("alexnet", "extractor", f"data.root={tmp_path / 'absent'}", "data.download=true"))


def test_the_readme_quick_start_shows_offline_use_with_the_users_own_folders():
    readme = (REPO / "README.md").read_text()
    quick_start = readme.split("## Quick start")[1].split("\n## ")[0]
    assert "../shared" not in quick_start  # a folder beside this repository's development checkout only
    assert re.search(r"python -m tl_lightning\.prefetch data\.root=\S+", quick_start)
    assert "TORCH_HOME=" in quick_start and "make quick ARGS=" in quick_start
