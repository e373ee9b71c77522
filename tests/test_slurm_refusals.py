"""Issue 30 item 9: hydra/launcher=slurm refused before any job is queued says why in one line and leaves no
multirun.yaml (nor submitit folder) behind; a job pending for a request the partition cannot give names it.

No SLURM is needed: a PATH without it, or with stand-in `srun`/`sbatch` scripts.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import tl_lightning
from tl_lightning.run.launch import slurm, slurm_wait

SRC = Path(tl_lightning.__file__).resolve().parents[1]  # the sources under test (PYTHONPATH), also in the sweep


def _sweep(tiny_data: Path, tmp_path: Path, path: str, *extra: str) -> subprocess.CompletedProcess:
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    command = [sys.executable, "-m", "tl_lightning", "-m", "hydra/launcher=slurm", "trainer=cpu", "arch.weights=none"]
    command += [f"data.root={tiny_data}", f"hydra.sweep.dir={tmp_path / 'out' / 'sweep'}", *extra]
    env = {**os.environ, "PYTHONPATH": str(SRC), "PYTHONWARNINGS": "ignore", "PATH": path}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)


def _last_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return [line for line in done.stderr.splitlines() if line.strip()][-1]


def _fake_slurm(tmp_path: Path, sbatch: str = "exit 1", squeue: str = "exit 0") -> str:
    """A bin folder with stand-ins for srun, sbatch and squeue; the PATH to use."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("srun", "exit 0"), ("sbatch", sbatch), ("squeue", squeue)):
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin"


@pytest.mark.slow
def test_without_slurm_the_sweep_is_refused_in_one_line_and_leaves_nothing(tiny_data, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    line = _last_line(_sweep(tiny_data, tmp_path, str(empty)))
    assert line.startswith("error: hydra/launcher=slurm needs SLURM's sbatch and srun"), line
    assert not (tmp_path / "out").exists()  # no multirun.yaml, and not the folders made for it


@pytest.mark.slow
def test_a_refused_setting_leaves_no_multirun_yaml(tiny_data, tmp_path):
    line = _last_line(_sweep(tiny_data, tmp_path, _fake_slurm(tmp_path), "hydra.launcher.timeout_min=-5"))
    assert line.startswith("error: hydra.launcher.timeout_min=-5"), line
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_refusal_in_an_existing_sweep_folder_puts_its_multirun_yaml_back(tiny_data, tmp_path):
    sweep = tmp_path / "out" / "sweep"
    sweep.mkdir(parents=True)
    (sweep / "multirun.yaml").write_text("the earlier sweep's\n")
    (sweep / "notes.txt").write_text("mine\n")
    _last_line(_sweep(tiny_data, tmp_path, _fake_slurm(tmp_path), "hydra.launcher.timeout_min=-5"))
    assert (sweep / "multirun.yaml").read_text() == "the earlier sweep's\n"
    assert sorted(p.name for p in sweep.iterdir()) == ["multirun.yaml", "notes.txt"]


@pytest.mark.slow
def test_sbatch_refusing_the_cpus_names_the_settings_and_leaves_nothing(tiny_data, tmp_path):
    said = "echo 'sbatch: error: CPU count per node can not be satisfied' >&2; exit 1"
    line = _last_line(_sweep(tiny_data, tmp_path, _fake_slurm(tmp_path, said), "data.num_workers=2"))
    assert "hydra.launcher.cpus_per_task=3" in line and "data.num_workers" in line, line
    assert not (tmp_path / "out").exists()  # multirun.yaml and submitit's job files went with the refusal


@pytest.mark.slow
def test_the_sweep_folder_gets_hydra_sweep_mode_and_a_job_slurm_ended_its_failure_txt(tiny_data, tmp_path):
    """As upstream's launcher: +hydra.sweep.mode (octal) is the sweep folder's; stand-in sbatch and squeue."""
    path = _fake_slurm(tmp_path, "echo 'Submitted batch job 7'", "echo '7|CANCELLED|None'")
    done = _sweep(tiny_data, tmp_path, path, "+hydra.sweep.mode=750")
    assert done.returncode == 1, done.stderr[-3000:]
    sweep = tmp_path / "out" / "sweep"
    assert sweep.stat().st_mode & 0o777 == 0o750
    (failure,) = sweep.glob("0_*/failure.txt")
    assert failure.read_text().startswith("SLURM job 7 CANCELLED: cancelled"), failure.read_text()


def test_a_job_pending_for_its_request_names_the_request_and_its_settings():
    params = {"cpus_per_task": 3, "mem_gb": 6, "nodes": 1, "tasks_per_node": 1, "timeout_min": 120}
    end = slurm_wait.JobEnd("7_0", "PENDING", "PartitionConfig: the request exceeds what the partition allows")
    line = slurm_wait.describe_end(end, params, "/x.err")
    assert "--cpus-per-task=3 (hydra.launcher.cpus_per_task; unset, data.num_workers + 1)" in line
    assert "--mem=6G (hydra.launcher.mem_gb)" in line and "\n" not in line


def test_missing_slurm_commands_are_named(monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(slurm.SlurmSettingError, match=r"needs SLURM's sbatch and srun, which are not on"):
        slurm.check_slurm_commands()
