"""Hydra launchers: a real 3-job joblib sweep on CPU against the serial one, GPU slots (jobs_per_gpu).

The plugins are optional extras (`pip install -e ".[launchers,optuna]"`); each test skips when its
plugin is not installed.
"""

from __future__ import annotations

import csv
import itertools
import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from tl_lightning.conf import CONF_DIR
from tl_lightning.run.launch import gpu_slots
from tl_lightning.run.launch.gpu_slots import claim

SRC = Path(__file__).resolve().parents[1] / "src"


def _hydra_cfg(overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    GlobalHydra.instance().clear()
    return cfg


SWEEP = [
    "arch=alexnet",
    "arch.weights=none",
    "arch.image_size=64",
    "strategy=extractor,finetune,mixed",
    "data.num_workers=0",  # given explicitly: the worker count decides the crops' random draws
    "trainer=cpu",
    "trainer.max_epochs=1",
    "quiet=true",
]


def _sweep(extra: list[str], data: Path, sweep_dir: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "tl_lightning", "-m", *extra, *SWEEP]
    command += [f"data.root={data}", f"hydra.sweep.dir={sweep_dir}"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))}
    env.pop("TL_NUM_GPUS", None)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return done


def _metrics(sweep_dir: Path) -> dict[str, dict]:
    """Each run's metrics.json without what differs between any two launches: wall time, the checkpoint's path,
    and the command-line overrides (the parallel sweep's include jobs_per_gpu)."""
    runs = {}
    for path in sorted(sweep_dir.glob("*/metrics.json")):
        metrics = json.loads(path.read_text())
        del metrics["wall_s"], metrics["best_checkpoint"], metrics["overrides"], metrics["feature_store"]
        runs[path.parent.name] = metrics
    return runs


@pytest.mark.slow
def test_three_jobs_side_by_side_match_the_serial_sweep(tiny_data: Path, tmp_path: Path):
    """jobs_per_gpu=3 on a CPU machine: 3 concurrent joblib processes, the serial sweep's metrics, one report."""
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    parallel = _sweep(["hydra/launcher=joblib_gpus", "jobs_per_gpu=3"], tiny_data, tmp_path / "parallel")
    serial = _sweep([], tiny_data, tmp_path / "serial")
    log = parallel.stdout + parallel.stderr
    assert "Joblib.Parallel(n_jobs=3" in log  # no GPU: 1 device x jobs_per_gpu
    # Each job sized itself to a third of the CPUs, once, and kept the explicit worker count.
    assert log.count("3 jobs share") == 3 and "0 loader workers (as set on the command line)" in log
    assert "Caching input" not in parallel.stderr  # quiet=true: no progress bars

    runs = _metrics(tmp_path / "parallel")
    assert len(runs) == 3 and runs == _metrics(tmp_path / "serial")  # same names, bit-identical metrics
    # The sweep callback ran once, in the launching process, after all three jobs.
    assert log.count("Sweep report:") == 1 and "Sweep report:" in serial.stdout
    with open(tmp_path / "parallel" / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["strategy"] for r in rows) == ["extractor", "finetune", "mixed"]
    assert (tmp_path / "parallel" / "report.md").is_file()


def test_gpu_claims_never_share_a_device(tmp_path: Path):
    with claim(2, start=1, lock_dir=tmp_path) as first, claim(2, start=1, lock_dir=tmp_path) as second:
        assert (first, second) == (1, 0)
        got = []
        waiter = threading.Thread(target=lambda: _claim_into(got, tmp_path))
        waiter.start()
        waiter.join(0.3)
        assert got == []  # both GPUs held: the third run waits
    waiter.join(5)
    assert got == [1]


def _claim_into(got: list[int], lock_dir: Path, slots: int = 1) -> None:
    with claim(2, slots=slots, start=1, lock_dir=lock_dir, poll_s=0.05) as index:
        got.append(index)


def test_pin_gpu_without_gpus_names_the_setting(make_cfg, monkeypatch: pytest.MonkeyPatch):
    import torch

    from tl_lightning.run.train import train

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.raises(ValueError, match="pin_gpu=true"):
        train(make_cfg("alexnet", "extractor", "pin_gpu=true"))


def test_claim_holds_up_to_n_slots_per_device(tmp_path: Path):
    with ExitStack() as held:
        got = [held.enter_context(claim(2, slots=2, lock_dir=tmp_path)) for _ in range(4)]
        assert got == [0, 1, 0, 1]  # every device's first slot before any device's second
        assert sorted(p.name for p in tmp_path.iterdir()) == ["0.0.lock", "0.1.lock", "1.0.lock", "1.1.lock"]
        waiter = threading.Thread(target=lambda: _claim_into(got, tmp_path, slots=2))
        waiter.start()
        waiter.join(0.3)
        assert len(got) == 4  # 2 devices x 2 slots held: the fifth run waits
    waiter.join(5)
    assert got[4:] == [1]


def _hold(lock_dir: Path, slots: int, record: Path) -> None:
    with claim(1, slots=slots, lock_dir=lock_dir, poll_s=0.02):
        with open(record, "a") as f:
            f.write(f"+ {time.monotonic()}\n")
        time.sleep(0.4)
        with open(record, "a") as f:
            f.write(f"- {time.monotonic()}\n")


def test_processes_never_exceed_n_claims_on_one_device(tmp_path: Path):
    """Six processes, one device, jobs_per_gpu=2: never more than two inside at once, and all six get in."""
    record = tmp_path / "record.txt"
    fork = multiprocessing.get_context("fork")
    workers = [fork.Process(target=_hold, args=(tmp_path / "locks", 2, record)) for _ in range(6)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert [w.exitcode for w in workers] == [0] * 6
    events = sorted((float(t), 1 if sign == "+" else -1) for sign, t in (line.split() for line in record.open()))
    # Sort exits before entries at equal times: the lock is released before the next process takes it.
    inside = list(itertools.accumulate(step for _, step in sorted(events, key=lambda e: (e[0], e[1]))))
    assert len(events) == 12 and max(inside) == 2


def test_pin_gpu_spreads_jobs_per_gpu_runs_over_the_gpus(make_cfg, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(gpu_slots, "LOCK_DIR", tmp_path / "locks")
    cfgs = [make_cfg("alexnet", "extractor", "pin_gpu=true", "jobs_per_gpu=2") for _ in range(4)]
    with ExitStack() as held:
        for cfg in cfgs:
            held.enter_context(gpu_slots.pinned(cfg))
        assert [list(cfg.trainer.devices) for cfg in cfgs] == [[0], [1], [0], [1]]
        assert len(list((tmp_path / "locks").iterdir())) == 4


@pytest.mark.parametrize("overrides", [("pin_gpu=true", "jobs_per_gpu=0"), ("jobs_per_gpu=-1",)])
def test_jobs_per_gpu_must_be_a_positive_integer(make_cfg, monkeypatch: pytest.MonkeyPatch, overrides):
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    cfg = make_cfg("alexnet", "extractor", *overrides)
    with pytest.raises(ValueError, match="jobs_per_gpu=.* must be an integer >= 1"), gpu_slots.pinned(cfg):
        pass


def test_jobs_per_gpu_is_typed_by_the_schema(make_cfg):
    # Not a number at all: refused while the config is composed, naming the key.
    with pytest.raises(Exception, match="jobs_per_gpu"):
        make_cfg("alexnet", "extractor", "jobs_per_gpu=abc")


def test_joblib_gpus_runs_gpus_times_jobs_per_gpu(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TL_NUM_GPUS", "2")
    assert _hydra_cfg(["hydra/launcher=joblib_gpus", "jobs_per_gpu=3"]).hydra.launcher.n_jobs == 6
    monkeypatch.delenv("TL_NUM_GPUS")
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)  # CPU only: the machine is one device
    assert _hydra_cfg(["hydra/launcher=joblib_gpus", "jobs_per_gpu=3"]).hydra.launcher.n_jobs == 3
    assert _hydra_cfg(["hydra/launcher=joblib_gpus"]).hydra.launcher.n_jobs == 1
    monkeypatch.setenv("TL_NUM_GPUS", "two")
    with pytest.raises(Exception, match="TL_NUM_GPUS='two' must be a number of GPUs"):
        _ = _hydra_cfg(["hydra/launcher=joblib_gpus"]).hydra.launcher.n_jobs
