"""docs/study is regenerated from the run folders kept beside it: the statistics it shows are the report's own."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tl_lightning.report.__main__ import main as report_main

STUDY = Path(__file__).resolve().parent.parent / "docs" / "study"


def _section(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end, text.index(start))]


@pytest.mark.slow
def test_the_val_study_report_is_what_the_kept_runs_give(tmp_path):
    copy = tmp_path / "study"
    shutil.copytree(STUDY, copy, ignore=shutil.ignore_patterns("crossval", "regimes", "report_figures", "*.png"))
    assert report_main([str(copy)]) == 0
    kept, again = (STUDY / "report.md").read_text(), (copy / "report.md").read_text()
    for start, end in (("## Results", "## Which"), ("## Which differences", "## The assignment"), ("### 2.", "## Why")):
        assert _section(again, start, end) == _section(kept, start, end)


@pytest.mark.slow
def test_the_crossval_page_is_what_the_kept_runs_give(tmp_path):
    copy = tmp_path / "crossval"
    shutil.copytree(STUDY / "crossval", copy)
    assert report_main([str(copy)]) == 0
    section = _section((copy / "report.md").read_text(), "## Cross-validation", "## The assignment")
    # Whether copies were checked depends on ../shared being beside this checkout: that sentence is left out.
    assert _no_copies(section).strip() in _no_copies((STUDY / "crossval.md").read_text())


def _no_copies(text: str) -> str:
    return re.sub(r" (No two of these|Copies among these|These \d+ files are)[^.]*\.( The recorded[^.]*\.)?", "", text)
