"""Nothing left behind by a refused run or a report with nothing to report (issue 30 item 11)."""

from __future__ import annotations

from pathlib import Path

import pytest

from test_hostile_runs3 import finish, start
from tl_lightning.report.__main__ import main as report_main


@pytest.mark.slow
def test_a_refused_single_run_leaves_no_empty_outputs_folder(tiny_data, tmp_path):
    code, output = finish(start([f"data.root={tiny_data}", "optimizer.lr=0"], tmp_path))
    assert code == 2 and "error: Invalid configuration:" in output, output[-3000:]
    assert list(tmp_path.iterdir()) == []


def test_a_report_on_a_folder_without_runs_writes_nothing_into_it(tiny_data, tmp_path, capsys):
    before = sorted(str(p) for p in Path(tiny_data).rglob("*"))
    assert report_main([str(tiny_data / "val")]) == 2
    assert "holds no run folders, so no report was written" in capsys.readouterr().err
    assert sorted(str(p) for p in Path(tiny_data).rglob("*")) == before
