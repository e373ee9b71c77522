"""A real multirun through the CLI: readable run dirs and the sweep summary."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from conftest import TEST_SIZE, tiny_run
from tl_lightning.run.observe.sweep_progress import duration, progress_line, sweep_size


@pytest.mark.slow
def test_multirun_writes_one_dir_per_run_and_a_summary(tiny_data, tmp_path):
    sweep = tmp_path / "sweep"
    size = max(TEST_SIZE["alexnet"], TEST_SIZE["vgg16"])
    args = ["arch=alexnet,vgg16", "strategy=extractor,finetune", *tiny_sweep(tiny_data, sweep, size)]
    result = sweep_cli(args, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    console = result.stdout + result.stderr
    # Issue 23 item 6: sweep-level progress with an estimate from the jobs done.
    assert re.search(r"job 1 of 4 \([^)]*arch=alexnet,[^)]*\): the first to finish will give an estimate", console)
    assert re.search(r"job 4 of 4 \([^)]*arch=vgg16,[^)]*\): 3 done in \S+, about \S+( \S+)? left", console)

    runs = sorted(p.name for p in sweep.iterdir() if p.is_dir() and p.name[0].isdigit())
    assert (sweep / "report.md").is_file()
    # Hydra's override_dirname: every override except paths (data.root, arch.weights, ...).
    expected = [("alexnet", "extractor"), ("alexnet", "finetune"), ("vgg16", "extractor"), ("vgg16", "finetune")]
    assert len(runs) == 4
    for num, (run, (arch, strategy)) in enumerate(zip(runs, expected, strict=True)):
        assert run.startswith(f"{num}_") and "data.root" not in run
        assert {f"arch={arch}", f"strategy={strategy}"} <= set(run.split("_", 1)[1].split(","))
    for run in runs:
        assert (sweep / run / "metrics.json").is_file()
    with open(sweep / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["arch"], r["strategy"]) for r in rows] == [
        ("alexnet", "extractor"),
        ("alexnet", "finetune"),
        ("vgg16", "extractor"),
        ("vgg16", "finetune"),
    ]
    assert all(0.0 <= float(r["val_acc_best"]) <= 1.0 for r in rows)
    assert "| alexnet | extractor |" in (sweep / "summary.md").read_text().replace(
        "| 0_arch=alexnet,strategy=extractor ", ""
    )


def tiny_sweep(tiny_data, sweep, image_size: int) -> list[str]:
    """Overrides of a one-epoch CPU sweep on the tiny dataset, random weights, into `sweep`."""
    return [*tiny_run(tiny_data, image_size), f"hydra.sweep.dir={sweep}"]


def sweep_cli(args: list[str], cwd, timeout: int = 600) -> subprocess.CompletedProcess:
    # This checkout's src, absolute: a relative PYTHONPATH=src does not hold in `cwd` and would run whatever
    # tl_lightning is installed instead.
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {
        **os.environ,
        "PYTHONWARNINGS": "ignore",
        "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")])),
    }
    env.pop("HYDRA_FULL_ERROR", None)
    cmd = [sys.executable, "-m", "tl_lightning", "-m", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout)


@pytest.mark.slow
def test_a_failing_job_does_not_stop_the_sweep_and_the_sweep_still_reports(tiny_data, tmp_path):
    # The case: Inception-v3 fails its size check at once, AlexNet trains; before, nothing was written.
    sweep = tmp_path / "sweep"
    done = sweep_cli(
        ["arch=inception_v3,alexnet", "strategy=extractor", *tiny_sweep(tiny_data, sweep, 64)],
        tmp_path,
    )
    assert done.returncode == 1, done.stderr[-3000:]
    failed, trained = sorted(p for p in sweep.iterdir() if p.is_dir() and p.name[0].isdigit())
    reason = (failed / "failure.txt").read_text()
    assert reason.count("\n") == 1 and "arch.image_size=64 is too small for inception_v3" in reason
    assert (trained / "metrics.json").is_file() and not (trained / "failure.txt").exists()
    with open(sweep / "summary.csv") as f:
        rows = [(r["arch"], r["status"].partition(":")[0]) for r in csv.DictReader(f)]  # failed runs listed too
    assert rows == [("inception_v3", "failed"), ("alexnet", "ok")]
    assert (sweep / "report.md").is_file()
    assert f"1 of 2 runs failed:\n  {failed.name}: {reason.strip()}" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_a_sweep_whose_weights_cannot_be_had_stops_before_any_job(tiny_data, tmp_path):
    # experiment=study's own sweep (3 archs); an empty weights folder: one message naming each arch, no sweep dir.
    sweep, weights = tmp_path / "sweep", tmp_path / "weights"
    weights.mkdir()
    args = ["experiment=study", f"arch.weights={weights}", f"data.root={tiny_data}", f"hydra.sweep.dir={sweep}"]
    done = sweep_cli(args, tmp_path, timeout=300)
    assert done.returncode == 2, done.stderr[-3000:]
    assert done.stderr.count("error: The sweep cannot start") == 1 and "Traceback" not in done.stderr
    for arch in ("alexnet", "vgg16", "inception_v3"):
        assert f"exactly one {arch}-*.pth" in done.stderr
    assert "Launching" not in done.stdout + done.stderr
    assert not sweep.exists()


def test_the_sweep_size_and_the_time_left_come_from_the_overrides_and_the_jobs_done():
    def config(task: list[str], sweeper: dict) -> OmegaConf:
        return OmegaConf.create({"hydra": {"overrides": {"task": task}, "sweeper": sweeper}})

    basic = {"_target_": "hydra._internal.core_plugins.basic_sweeper.BasicSweeper", "params": None}
    assert sweep_size(config(["arch=alexnet,vgg16", "seed=0,1,2", "data.root=x"], basic)) == 6
    study = {**basic, "params": {"arch": "alexnet,vgg16,inception_v3", "strategy": "extractor,finetune,mixed"}}
    assert sweep_size(config(["experiment=study"], study)) == 9
    assert sweep_size(config(["strategy=mixed"], study)) == 3  # the command line wins over the params
    assert sweep_size(config([], {"_target_": "x.OptunaSweeper", "n_trials": 20})) == 20
    assert (
        progress_line(3, 9, "arch=vgg16", 2, 250.0) == "job 3 of 9 (arch=vgg16): 2 done in 4m 10s, about 14m 35s left"
    )
    assert duration(3 * 3600 + 125) == "3h 02m"
