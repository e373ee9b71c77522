"""Which process of a run this is, however its ranks were started.

torchrun sets RANK, Lightning's own launcher LOCAL_RANK/NODE_RANK for the processes they start; srun sets only
SLURM_PROCID (global rank) and SLURM_LOCALID in each task of a step. A process that LOCAL_RANK names wins
(torchrun or Lightning inside a single SLURM task); otherwise an srun task's SLURM_PROCID decides.
"""

from __future__ import annotations

import os


def is_launcher() -> bool:
    """True for the one process of a run that owns the run folder (global rank 0)."""
    env = os.environ
    if "RANK" in env:  # torchrun: the global rank
        return env["RANK"] == "0"
    if "LOCAL_RANK" in env:
        return env["LOCAL_RANK"] == "0" and env.get("NODE_RANK", "0") == "0"
    if "SLURM_STEP_ID" in env and "SLURM_PROCID" in env:  # a task of an srun step
        return env["SLURM_PROCID"] == "0"
    return True
