"""Jobs of one local sweep that run side by side (joblib launcher) share the machine's CPUs.

Left alone, each of N concurrent jobs would start torch's default of one compute thread per core plus
data.num_workers loader processes, N times over the same cores. Each job instead takes its share,
max(1, CPUs // N), as torch threads and as an upper bound on its loader workers.

Result-neutral where the test suite checks it: on CPU (trainer=cpu, deterministic) a sweep with N jobs
gives the serial sweep's metrics.json bit for bit when data.num_workers is set on the command line (the
worker count decides which worker's random stream crops which batch, so it is left as given then).
"""

from __future__ import annotations

import logging
import os

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict

log = logging.getLogger(__name__)


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask, which containers and taskset narrow)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def concurrent_jobs() -> int:
    """How many jobs of this sweep run at once on this machine: the joblib launcher's n_jobs, else 1."""
    if not HydraConfig.initialized():
        return 1
    hydra_cfg = HydraConfig.get()
    launcher = hydra_cfg.get("launcher") or {}
    if hydra_cfg.mode != RunMode.MULTIRUN or "joblib" not in str(launcher.get("_target_", "")):
        return 1  # single runs, the basic (serial) launcher, SLURM (one allocation per job)
    n_jobs = int(launcher.get("n_jobs") or 1)
    # joblib's convention: -1 = every CPU, -2 = all but one, ...
    return n_jobs if n_jobs > 0 else max(1, cpu_count() + 1 + n_jobs)


def share_machine(cfg: DictConfig) -> None:
    """Size torch's threads and the loader workers to this job's share of the CPUs; log it once per job."""
    jobs = concurrent_jobs()
    if jobs <= 1:
        return
    cpus = cpu_count()
    share = max(1, cpus // jobs)
    torch.set_num_threads(share)
    workers = cfg.data.num_workers
    note = "as set on the command line"
    if not _overridden("data.num_workers"):
        # Never more than configured: 0 (load in the main process) stays 0.
        workers = min(workers, share)
        note = f"at most {share}"
        with open_dict(cfg):
            cfg.data.num_workers = workers
    log.info(
        "%d jobs share %d CPUs: this one uses %d torch threads and %d loader workers (%s)",
        jobs,
        cpus,
        share,
        workers,
        note,
    )


def _overridden(key: str) -> bool:
    """Whether `key` was given on the command line (`key=`, `+key=`, `++key=`)."""
    if not HydraConfig.initialized():
        return False
    return any(o.lstrip("+").split("=", 1)[0] == key for o in HydraConfig.get().overrides.task)
