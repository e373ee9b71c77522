"""Waiting for a sweep's SLURM jobs without hanging: each job ends with its result or with SLURM's reason.

submitit's own wait asks `sacct` only, so without accounting a job that SLURM ended never counts as done
(the sweep waits forever), and a job ended by SLURM raises and takes the sweep's report with it. Here each
job is finished by whichever comes first: its result file, its final state in `squeue` (which lists ended
jobs for MinJobAge, 300 s by default) or `sacct`, or its absence from both for `gone_after_s`. A job that
pends for a reason that cannot clear by waiting (PartitionConfig, a QOS per-job limit, ...) is cancelled
and reported with that reason.
"""

from __future__ import annotations

import logging
import re
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# squeue/sacct states after which a job never runs again (PREEMPTED and REQUEUED jobs may come back).
FINAL_STATES = ("BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL", "OUT_OF_MEMORY")
FINAL_STATES += ("REVOKED", "SPECIAL_EXIT", "TIMEOUT")
# Pending reasons that no amount of waiting clears: the request itself is beyond what may run.
NEVER_CLEARS = re.compile(
    r"^(PartitionConfig|PartitionNodeLimit|PartitionTimeLimit|BadConstraints|InvalidAccount|InvalidQOS"
    r"|DependencyNeverSatisfied|(QOS|Assoc)Max\w*Per(Job|Node)\w*)$"
)
_WHY = {
    "PartitionConfig": "the request exceeds what the partition allows (CPUs, memory, GPUs or nodes per job)",
    "PartitionTimeLimit": "hydra.launcher.timeout_min is above the partition's time limit",
    "PartitionNodeLimit": "hydra.launcher.nodes is above the partition's node limit",
}


@dataclass
class JobEnd:
    """How one job ended: `value` from its result file, or SLURM's `state` and `reason` when it left none."""

    job_id: str
    state: str = "COMPLETED"
    reason: str = ""
    has_result: bool = False


@dataclass
class _Seen:
    state: str = ""
    reason: str = ""
    missing_since: float | None = None


def scheduler_states(job_ids: Sequence[str], command: Callable[..., str]) -> dict[str, tuple[str, str]]:
    """{array job id "123_4" or job id: (state, reason)} from squeue, then sacct for the jobs squeue no longer lists."""
    mains = sorted({j.split("_")[0] for j in job_ids})
    states: dict[str, tuple[str, str]] = {}
    out = command(["squeue", "-h", "-r", "-t", "all", "-o", "%i|%T|%r", "-j", ",".join(mains)])
    for line in out.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 3:
            states[parts[0]] = (parts[1], parts[2])
    missing = [j for j in job_ids if j not in states]
    if missing:
        out = command(["sacct", "-n", "-P", "-X", "-o", "JobID,State,Reason", "-j", ",".join(mains)])
        for line in out.splitlines():
            parts = line.strip().split("|")
            if len(parts) >= 2 and parts[0] in missing:
                states[parts[0]] = (parts[1], parts[2] if len(parts) > 2 else "")
    return states


def run_command(argv: list[str]) -> str:
    """stdout of a SLURM client command; empty when it fails (no accounting, a busy slurmctld): try again later."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout if done.returncode == 0 else ""


def wait_for_jobs(
    job_ids: Sequence[str],
    has_result: Callable[[str], bool],
    names: Sequence[str],
    *,
    command: Callable[[list[str]], str] = run_command,
    poll_s: float = 5.0,
    gone_after_s: float = 120.0,
    result_grace_s: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[JobEnd]:
    """Poll until every job has a result file or a final state; say each state change out loud."""
    ends: dict[str, JobEnd] = {}
    seen = {j: _Seen() for j in job_ids}
    label = dict(zip(job_ids, names, strict=True))
    while True:
        for j in job_ids:
            if j not in ends and has_result(j):
                ends[j] = JobEnd(j, has_result=True)
        open_ids = [j for j in job_ids if j not in ends]
        if not open_ids:
            return [ends[j] for j in job_ids]
        states = scheduler_states(open_ids, command)
        now = clock()
        stuck = []
        for j in open_ids:
            state, reason = states.get(j, ("", ""))
            end = _judge(j, state, reason, seen[j], now, gone_after_s, result_grace_s, has_result)
            if state and (state, reason) != (seen[j].state, seen[j].reason):
                log.info("SLURM job %s (%s): %s%s", j, label[j], state, f" ({reason})" if reason else "")
                seen[j].state, seen[j].reason = state, reason
            if end is not None:
                ends[j] = end
            elif state == "PENDING" and NEVER_CLEARS.match(reason):
                stuck.append(j)
        for j in stuck:
            reason = seen[j].reason
            why = _WHY.get(reason, "a limit of the partition, account or QOS that waiting cannot clear")
            log.error("SLURM job %s (%s) can never start: pending for %s (%s); cancelling it", j, label[j], reason, why)
            command(["scancel", j])
            ends[j] = JobEnd(j, "PENDING", f"{reason}: {why}")
        if len(ends) < len(job_ids):
            sleep(poll_s)


def _judge(
    job_id: str,
    state: str,
    reason: str,
    seen: _Seen,
    now: float,
    gone_after_s: float,
    result_grace_s: float,
    has_result: Callable[[str], bool],
) -> JobEnd | None:
    if not state:  # neither squeue nor sacct knows it (any more): no accounting, and past MinJobAge
        seen.missing_since = seen.missing_since if seen.missing_since is not None else now
        if now - seen.missing_since >= gone_after_s:
            last = f"last seen {seen.state}" if seen.state else "never seen by squeue"
            return JobEnd(job_id, "GONE", f"left the queue without a result ({last}; no accounting to say why)")
        return None
    seen.missing_since = None
    if state.split()[0] not in FINAL_STATES:
        return None
    # The result file is written just before the process exits: give a slow shared filesystem time to show it.
    deadline = now + result_grace_s
    while time.monotonic() < deadline and state.startswith("COMPLETED"):
        if has_result(job_id):
            return JobEnd(job_id, has_result=True)
        time.sleep(1)
    return None if has_result(job_id) else JobEnd(job_id, state, reason)


def describe_end(end: JobEnd, params: dict[str, Any], log_file: str) -> str:
    """One line for failure.txt: what SLURM did to the job, which setting to change, where its log is."""
    state = end.state.split()[0]
    said = f"SLURM job {end.job_id} {end.state}" + (f" ({end.reason})" if end.reason not in ("", "None") else "")
    hints = {
        "CANCELLED": "cancelled (scancel or an administrator); rerun the sweep with resume=true to finish it",
        "TIMEOUT": (
            f"time limit hydra.launcher.timeout_min={params.get('timeout_min')} reached and not requeued "
            f"(hydra.launcher.max_num_timeout={params.get('max_num_timeout')}); raise either, then rerun with "
            f"resume=true"
        ),
        "OUT_OF_MEMORY": f"out of memory: raise hydra.launcher.mem_gb (the job had {_memory(params)})",
        "NODE_FAIL": "its node failed; rerun the sweep with resume=true",
        "PENDING": f"never started: {request_line(params)}",
        "GONE": "rerun the sweep with resume=true",
    }
    if state == "FAILED" and _MEMORY_KILL.search(_tail(log_file)):
        # Without cgroups SLURM's memory enforcement (jobacct polling) kills the step: FAILED, not OUT_OF_MEMORY.
        state, said = "OUT_OF_MEMORY", f"{said}, killed for exceeding its memory limit"
    hint = hints.get(state, "see its log")
    return f"{said}: {hint}. Log: {log_file}"


def request_line(params: dict[str, Any]) -> str:
    """What the job asked SLURM for, each with the setting behind it: a pending reason such as PartitionConfig
    says the request is too large, not which part of it."""
    asked = [
        f"--cpus-per-task={params.get('cpus_per_task')} (hydra.launcher.cpus_per_task; unset, data.num_workers + 1)",
        f"--mem={params.get('mem_gb')}G (hydra.launcher.mem_gb)",
        f"--nodes={params.get('nodes')} (hydra.launcher.nodes)",
        f"--ntasks-per-node={params.get('tasks_per_node')} (hydra.launcher.tasks_per_node)",
        f"--time={params.get('timeout_min')} min (hydra.launcher.timeout_min)",
    ]
    if params.get("gpus_per_node"):
        asked.append(f"--gpus-per-node={params['gpus_per_node']} (hydra.launcher.gpus_per_node; trainer=cpu: none)")
    if params.get("partition"):
        asked.append(f"--partition={params['partition']} (hydra.launcher.partition)")
    return (
        f"it asked for {', '.join(asked)}; lower what the partition cannot give "
        f"(`sinfo -o '%P %c %m %G %l'` lists each partition's CPUs, memory, GPUs and time limit)"
    )


def _memory(params: dict[str, Any]) -> str:
    given = (params.get("additional_parameters") or {}).get("mem")  # sbatch's own --mem wins over mem_gb
    return f"--mem={given}" if given else f"mem_gb={params.get('mem_gb')}"


_MEMORY_KILL = re.compile(r"exceeded (job )?memory limit|oom[-_ ]kill|out of memory", re.IGNORECASE)


def _tail(path: str, size: int = 8192) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, 2) - size))
            return f.read().decode(errors="replace")
    except OSError:
        return ""
