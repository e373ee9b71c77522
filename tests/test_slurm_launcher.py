"""hydra/launcher=slurm without a scheduler: job sizes from the run, sbatch refusals, the bounded wait, ranks.

The live-cluster tests are in tests/test_slurm.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tl_lightning.run.folder.lock import run_folder_lock
from tl_lightning.run.launch import ranks, slurm, slurm_wait

REPO = Path(__file__).resolve().parents[1]
BASE = {"timeout_min": 120, "signal_delay_s": None, "max_num_timeout": 3, "partition": None}


def _resources(make_cfg, *overrides: str, **params) -> dict:
    cfg = make_cfg("alexnet", "extractor", *overrides)
    keys = ("nodes", "tasks_per_node", "gpus_per_node", "cpus_per_task", "mem_gb")
    return slurm.job_resources({**BASE, **dict.fromkeys(keys), **params}, cfg)


def test_a_cpu_trainer_asks_for_no_gpu_and_one_run_s_cpus(make_cfg):
    got = _resources(make_cfg, "trainer=cpu", "data.num_workers=3")
    assert got["gpus_per_node"] is None and got["cpus_per_task"] == 4 and got["tasks_per_node"] == 1
    assert got["mem_gb"] == slurm.MEM_GB_PER_TASK and got["nodes"] == 1
    assert _resources(make_cfg, "trainer=default", "trainer.accelerator=cpu")["gpus_per_node"] is None


def test_a_gpu_trainer_asks_for_its_devices_and_set_values_win(make_cfg):
    assert _resources(make_cfg, "trainer=gpu")["gpus_per_node"] == 1
    ddp = _resources(make_cfg, "trainer=ddp", "trainer.devices=4")
    assert (ddp["gpus_per_node"], ddp["tasks_per_node"], ddp["mem_gb"]) == (4, 4, 4 * slurm.MEM_GB_PER_TASK)
    mine = _resources(make_cfg, "trainer=gpu", gpus_per_node=0, cpus_per_task=7, mem_gb=3)
    assert (mine["gpus_per_node"], mine["cpus_per_task"], mine["mem_gb"]) == (None, 7, 3)


def test_ddp_tasks_must_match_the_devices(make_cfg):
    with pytest.raises(slurm.SlurmSettingError, match=r"tasks_per_node=1 but trainer.devices=2"):
        _resources(make_cfg, "trainer=ddp", "trainer.devices=2", "trainer.accelerator=cpu", tasks_per_node=1)
    with pytest.raises(slurm.SlurmSettingError, match=r"trainer.devices=auto"):
        _resources(make_cfg, "trainer=ddp")


@pytest.mark.parametrize(("timeout_min", "asked", "expected"), [(120, None, 120), (2, None, 30), (10, 200, 200)])
def test_the_time_limit_warning_comes_late_enough(timeout_min, asked, expected):
    assert slurm.signal_delay(timeout_min, asked) == expected


@pytest.mark.parametrize(("timeout_min", "asked"), [(2, 120), (2, 31), (0, None)])
def test_a_warning_that_could_beat_the_handler_is_refused(timeout_min, asked):
    with pytest.raises(slurm.SlurmSettingError, match="timeout_min"):
        slurm.signal_delay(timeout_min, asked)


def test_sbatch_refusals_name_the_setting():
    gres = "sbatch: error: Invalid generic resource (gres) specification\n"
    msg = str(slurm.submission_refused(gres, {"gpus_per_node": 1}))
    assert "hydra.launcher.gpus_per_node=1" in msg and "trainer=cpu" in msg and "\n" not in msg
    part = "sbatch: error: invalid partition specified: gpu\nsbatch: error: Batch job submission failed: x\n"
    assert "hydra.launcher.partition=gpu" in str(slurm.submission_refused(part, {"partition": "gpu"}))


def test_a_requeued_job_resumes(monkeypatch):
    monkeypatch.delenv("SLURM_RESTART_COUNT", raising=False)
    assert slurm.requeued_overrides(["strategy=mixed"]) == ["strategy=mixed"]
    monkeypatch.setenv("SLURM_RESTART_COUNT", "2")
    assert slurm.requeued_overrides(["strategy=mixed", "resume=false"]) == ["strategy=mixed", "resume=true"]


class FakeScheduler:
    """squeue/sacct answers from a script: {command name: [output per call]} (the last one repeats)."""

    def __init__(self, **answers: list[str]) -> None:
        self.answers, self.calls = answers, []

    def __call__(self, argv: list[str]) -> str:
        self.calls.append(argv)
        outputs = self.answers.get(argv[0], [""])
        return outputs.pop(0) if len(outputs) > 1 else outputs[0]


def _wait(scheduler: FakeScheduler, ids: list[str], done: set[str] = frozenset(), **kw) -> list:
    clock = iter(range(0, 10_000, 10))
    return slurm_wait.wait_for_jobs(
        ids, lambda j: j in done, ids, command=scheduler, sleep=lambda s: None, clock=lambda: next(clock), **kw
    )


def test_jobs_ended_by_slurm_become_failures_with_its_state():
    squeue = "7_0|COMPLETED|None\n7_1|CANCELLED|None\n7_2|OUT_OF_MEMORY|OutOfMemory\n7_3|NODE_FAIL|NodeDown\n"
    ends = _wait(FakeScheduler(squeue=[squeue]), ["7_0", "7_1", "7_2", "7_3"], done={"7_0"}, result_grace_s=0)
    assert [(e.has_result, e.state) for e in ends] == [
        (True, "COMPLETED"),
        (False, "CANCELLED"),
        (False, "OUT_OF_MEMORY"),
        (False, "NODE_FAIL"),
    ]
    line = slurm_wait.describe_end(ends[2], {"mem_gb": 6}, "/x.err")
    assert "OUT_OF_MEMORY" in line and "hydra.launcher.mem_gb (the job had mem_gb=6)" in line and "/x.err" in line


def test_a_step_killed_for_memory_is_reported_as_out_of_memory(tmp_path):
    """Measured on the test cluster (jobacct OverMemoryKill, no cgroups): the job ends FAILED, the log says why."""
    log = tmp_path / "15_0_log.err"
    log.write_text("slurmstepd-vm: error: StepId=15.0 exceeded memory limit (553340928 > 314572800), being killed\n")
    line = slurm_wait.describe_end(slurm_wait.JobEnd("15", "FAILED", "NonZeroExitCode"), {"mem_gb": 1}, str(log))
    assert "killed for exceeding its memory limit" in line
    assert "raise hydra.launcher.mem_gb (the job had mem_gb=1)" in line


def test_without_accounting_a_vanished_job_ends_the_wait():
    """squeue forgets ended jobs after MinJobAge and sacct fails without accounting: the wait is bounded."""
    scheduler = FakeScheduler(squeue=["7_0|RUNNING|None\n", ""], sacct=[""])
    (end,) = _wait(scheduler, ["7_0"], gone_after_s=60)
    assert end.state == "GONE" and "last seen RUNNING" in end.reason
    assert sum(c[0] == "squeue" for c in scheduler.calls) >= 7  # 10 s per poll: about 60 s of absence


def test_sacct_says_how_a_job_that_left_squeue_ended():
    scheduler = FakeScheduler(squeue=[""], sacct=["7_0|TIMEOUT|TimeLimit\n"])
    (end,) = _wait(scheduler, ["7_0"], result_grace_s=0)
    assert (end.state, end.reason) == ("TIMEOUT", "TimeLimit")


def test_a_job_pending_for_a_reason_that_never_clears_is_cancelled_and_said():
    scheduler = FakeScheduler(squeue=["7_0|PENDING|PartitionConfig\n7_1|PENDING|Resources\n", "7_1|COMPLETED|None\n"])
    ends = _wait(scheduler, ["7_0", "7_1"], done={"7_1"})
    assert ends[0].state == "PENDING" and ends[0].reason.startswith("PartitionConfig")
    assert ["scancel", "7_0"] in scheduler.calls and ["scancel", "7_1"] not in scheduler.calls
    assert ends[1].has_result


@pytest.mark.parametrize(
    ("env", "launcher"),
    [
        ({}, True),
        ({"SLURM_STEP_ID": "0", "SLURM_PROCID": "0", "SLURM_LOCALID": "0"}, True),
        ({"SLURM_STEP_ID": "0", "SLURM_PROCID": "1", "SLURM_LOCALID": "1"}, False),
        ({"SLURM_STEP_ID": "0", "SLURM_PROCID": "0", "LOCAL_RANK": "1"}, False),  # Lightning's child in one task
        ({"LOCAL_RANK": "0", "NODE_RANK": "1"}, False),
        ({"RANK": "3", "LOCAL_RANK": "0"}, False),  # torchrun, second node
    ],
)
def test_rank_zero_of_a_run_is_found_from_srun_torchrun_or_lightning(monkeypatch, env, launcher):
    for var in ("SLURM_STEP_ID", "SLURM_PROCID", "SLURM_LOCALID", "LOCAL_RANK", "NODE_RANK", "RANK"):
        monkeypatch.delenv(var, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert ranks.is_launcher() is launcher


def test_only_srun_task_zero_takes_the_run_folder_lock(monkeypatch, tmp_path):
    """Rank 1 of an srun step must not compete with rank 0 for the lock (it held it on main: 'in use by pid')."""
    for var in ("LOCAL_RANK", "NODE_RANK", "RANK"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SLURM_STEP_ID", "0")
    monkeypatch.setenv("SLURM_PROCID", "0")
    with run_folder_lock(tmp_path):
        monkeypatch.setenv("SLURM_PROCID", "1")
        with run_folder_lock(tmp_path):  # would raise RunFolderBusyError if rank 1 tried to take it
            pass


@pytest.mark.slow
def test_a_warning_before_the_handler_is_refused_before_submitting(tiny_data, tmp_path):
    """timeout_min=2 with submitit's signal_delay_s=120 would send USR2 at once: refused, exit 2, no job."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    command = [sys.executable, "-m", "tl_lightning", "-m", "hydra/launcher=slurm", "trainer=cpu"]
    command += ["hydra.launcher.timeout_min=2", "hydra.launcher.signal_delay_s=120", "arch.weights=none"]
    command += [f"data.root={tiny_data}", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "PYTHONWARNINGS": "ignore"}
    env.pop("HYDRA_FULL_ERROR", None)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: hydra.launcher.signal_delay_s=120") and "Traceback" not in done.stderr
    assert not (tmp_path / "sweep" / ".submitit").exists()


def test_a_warning_before_submitit_s_handler_is_held_not_fatal():
    """In a SLURM job an early USR2 (the default action kills) is kept until the launcher can pass it on."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    code = (
        "import os, signal\n"
        "from hydra_plugins.tl_lightning_slurm import launcher\n"
        "os.kill(os.getpid(), signal.SIGUSR2)\n"
        "print(launcher._early_signals == [signal.SIGUSR2])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "SUBMITIT_EXECUTOR": "slurm"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout.strip()) == (0, "True"), done.stderr[-2000:]
