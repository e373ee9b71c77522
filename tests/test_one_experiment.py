"""A run folder holds one experiment (issue 30 item 2): a fresh run into a folder holding a run's results is
refused before any work and leaves the folder as it was; resume and the report check that metrics.json and the
config belong together."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from test_hostile_runs3 import finish, start
from tl_lightning.report.runs import read_run

TINY = ["arch=alexnet", "strategy=extractor", "arch.weights=none", "arch.image_size=64", "data.num_workers=0"]
TINY += ["trainer=cpu", "trainer.max_epochs=1", "explain=false"]


@pytest.fixture(scope="module")
def finished(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("one")
    code, output = finish(start([*TINY, f"data.root={tiny_data}", "hydra.run.dir=run"], root))
    assert code == 0, output[-3000:]
    return root / "run"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_a_fresh_run_into_a_finished_runs_folder_is_refused_and_changes_nothing(finished, tiny_data):
    before = snapshot(finished)
    logs = {k for k in before if k.endswith(".log") or k == ".tl-run.lock"}  # the lock names its holder
    args = [*TINY, f"data.root={tiny_data}", f"hydra.run.dir={finished}", "seed=7", "optimizer.lr=0.01"]
    code, output = finish(start(args, finished.parent))
    assert code == 2, output[-3000:]
    line = [x for x in output.splitlines() if x.startswith("error: ")]
    expected = "holds another run's results (metrics.json of other settings: seed: metrics.json 0, config 7"
    assert len(line) == 1 and expected in line[0], output[-3000:]
    after = snapshot(finished)
    # Hydra appends this attempt's lines to the run's log; everything else is byte for byte the finished run's.
    assert {k: v for k, v in after.items() if k not in logs} == {k: v for k, v in before.items() if k not in logs}
    assert "Epoch" not in output  # refused before any work


@pytest.mark.slow
def test_a_fresh_run_into_a_killed_runs_folder_of_other_settings_is_refused(finished, tiny_data, tmp_path):
    killed = tmp_path / "killed"
    shutil.copytree(finished, killed)
    (killed / "metrics.json").unlink()
    before = snapshot(killed)
    code, output = finish(start([*TINY, f"data.root={tiny_data}", f"hydra.run.dir={killed}", "seed=7"], tmp_path))
    assert code == 2 and "holds another run's results (last.ckpt of other settings: seed: checkpoint 0" in output, (
        output[-3000:]
    )
    assert {k: v for k, v in snapshot(killed).items() if not k.endswith((".log", ".lock"))} == {
        k: v for k, v in before.items() if not k.endswith((".log", ".lock"))
    }


@pytest.mark.slow
def test_resume_refuses_to_call_another_experiments_metrics_finished(finished, tiny_data):
    args = [*TINY, f"data.root={tiny_data}", f"hydra.run.dir={finished}", "seed=7", "resume=true"]
    code, output = finish(start(args, finished.parent))
    assert code == 2 and "metrics.json is another experiment's result (seed: metrics.json 0, config 7)" in output, (
        output[-3000:]
    )
    assert "already finished" not in output


def test_the_report_refuses_a_folder_whose_metrics_and_config_are_of_two_runs(finished, tmp_path):
    mixed = tmp_path / "mixed"
    (mixed / ".hydra").mkdir(parents=True)
    (mixed / "metrics.json").write_bytes((finished / "metrics.json").read_bytes())
    config = yaml.safe_load((finished / ".hydra" / "config.yaml").read_text())
    config["seed"] = 7
    (mixed / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    assert json.loads((mixed / "metrics.json").read_text())["seed"] == 0
    run = read_run(mixed)
    assert not run.ok and "metrics.json and .hydra/config.yaml are of different runs (seed:" in run.problem
    assert read_run(finished).ok


def data_snapshot(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.slow
@pytest.mark.parametrize("where", ["inside", "around"])
def test_a_run_folder_and_the_data_root_must_not_nest(tiny_data, tmp_path, where):
    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    before = data_snapshot(data)
    run_dir = data / "val" / "ants" / "run" if where == "inside" else tmp_path
    code, output = finish(start([*TINY, f"data.root={data}", f"hydra.run.dir={run_dir}"], tmp_path))
    assert code == 2, output[-3000:]
    expected = "is inside data.root=" if where == "inside" else "is inside hydra.run.dir="
    assert expected in output and "Epoch" not in output
    assert data_snapshot(data) == before


@pytest.mark.slow
def test_a_sweep_folder_under_the_data_root_is_refused_before_any_job(tiny_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    before = data_snapshot(data)
    args = [*TINY, f"data.root={data}", f"hydra.sweep.dir={data / 'val' / 'ants' / 'sw'}", "seed=0,1"]
    code, output = finish(start([*args, "data.on_bad_image=skip"], tmp_path, sweep=True))
    assert code == 2 and "hydra.sweep.dir=" in output and "is inside data.root=" in output, output[-3000:]
    assert data_snapshot(data) == before
