"""One requeue mechanism under SLURM: submitit's.

SLURM warns a job before its time limit with the signal submitit asks for (USR2, `--signal=USR2@...`);
submitit's handler requeues the job, and the requeued job resumes from its last.ckpt (run/launch/slurm.py). Lightning's
own SLURM auto-requeue listens for SIGUSR1 and saves a mid-epoch hpc_ckpt that it would restore on its own,
beside ours; it is turned off so that exactly one mechanism acts, whatever signal a site sends.
"""

from __future__ import annotations

from typing import Any

from hydra.utils import instantiate
from lightning.fabric.plugins.environments import SLURMEnvironment
from omegaconf import DictConfig


def trainer_overrides(cfg: DictConfig) -> dict[str, Any]:
    """Extra Trainer arguments for the cluster this process runs in (none outside SLURM)."""
    if not SLURMEnvironment.detect():
        return {}
    # The environment Lightning would pick by itself here, minus its auto-requeue.
    plugins = [instantiate(p) for p in (cfg.trainer.get("plugins") or [])]
    return {"plugins": [*plugins, SLURMEnvironment(auto_requeue=False)]}
