"""SLURM jobs sized from the run they carry, and the scheduler's refusals said in one line.

`hydra/launcher=slurm` (conf/hydra/launcher/slurm.yaml) leaves gpus_per_node, cpus_per_task, mem_gb,
tasks_per_node, nodes and signal_delay_s at null: they follow the trainer and data settings here, so
`trainer=cpu` asks for no GPU and `trainer=ddp trainer.devices=2` for one task per device. Any value set on
the command line wins.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from typing import Any

from omegaconf import DictConfig, OmegaConf

from tl_lightning.errors import UserError

# Memory per task. Measured: VGG16 finetune (the study's largest run) on CPU at batch 4 with 2 loader workers,
# `/usr/bin/time -v python -m tl_lightning arch=vgg16 strategy=finetune debug=fast trainer=cpu data.num_workers=2`,
# peaked at 2.9 GB resident (docs/scale_out.md); 6 GB leaves room for the workers and the decoded images.
MEM_GB_PER_TASK = 6
# Upper bound on how early SLURM's warning comes: it "may be sent up to 60 seconds earlier than specified".
_SIGNAL_SLACK_S = 60
RESUME_OVERRIDE = "resume=true"


class SlurmSettingError(UserError):
    """A hydra.launcher setting the scheduler cannot or will not run."""


def check_slurm_commands() -> None:
    """SlurmSettingError naming SLURM's commands this machine lacks (submitit's own check is a traceback)."""
    missing = [name for name in ("sbatch", "srun") if shutil.which(name) is None]
    if missing:
        raise SlurmSettingError(
            f"hydra/launcher=slurm needs SLURM's {' and '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
            f"not on this machine's PATH: submit the sweep from the cluster's login node (or put SLURM's bin folder "
            f"on PATH), or leave out hydra/launcher=slurm to run it here."
        )


def _devices(trainer: DictConfig) -> int | None:
    devices = trainer.get("devices", 1)
    if isinstance(devices, int) and devices > 0:
        return devices
    if OmegaConf.is_list(devices) or isinstance(devices, (list, tuple)):
        return len(devices)
    if isinstance(devices, str) and devices.isdigit():
        return int(devices)
    return None  # "auto" or -1: known only on the compute node


def uses_gpus(trainer: DictConfig) -> bool:
    return str(trainer.get("accelerator", "auto")).lower() not in ("cpu",)


def job_resources(params: dict[str, Any], cfg: DictConfig) -> dict[str, Any]:
    """The launcher's parameters with each null resource taken from the run's settings (see the module doc)."""
    out = dict(params)
    trainer = cfg.trainer
    strategy = str(trainer.get("strategy", "auto"))
    # ddp_spawn/fork start their processes themselves; plain ddp under SLURM wants one task per device.
    per_task = strategy.startswith("ddp") and not strategy.startswith(("ddp_spawn", "ddp_fork", "ddp_notebook"))
    devices = _devices(trainer)
    if out.get("nodes") is None:
        out["nodes"] = int(trainer.get("num_nodes", 1))
    if out.get("tasks_per_node") is None:
        if per_task and devices is None:
            raise SlurmSettingError(
                f"trainer.devices={trainer.get('devices')} with hydra/launcher=slurm and trainer.strategy={strategy}: "
                f"the devices per node must be known before the job starts; set trainer.devices to a number."
            )
        out["tasks_per_node"] = devices if per_task else 1
    if out.get("gpus_per_node") is None:
        out["gpus_per_node"] = (devices or 1) if uses_gpus(trainer) else None
    if out.get("gpus_per_node") == 0:
        out["gpus_per_node"] = None  # no --gpus-per-node at all: partitions without GPUs refuse even 0
    if out.get("cpus_per_task") is None:
        out["cpus_per_task"] = int(cfg.data.get("num_workers", 0)) + 1  # the loader workers and the training process
    if out.get("mem_gb") is None:
        out["mem_gb"] = MEM_GB_PER_TASK * int(out["tasks_per_node"])
    if per_task and devices is not None and int(out["tasks_per_node"]) != devices:
        raise SlurmSettingError(
            f"hydra.launcher.tasks_per_node={out['tasks_per_node']} but trainer.devices={devices} with "
            f"trainer.strategy={strategy}: SLURM starts one DDP process per task, so they must be equal."
        )
    if per_task and int(out["nodes"]) != int(trainer.get("num_nodes", 1)):
        raise SlurmSettingError(
            f"hydra.launcher.nodes={out['nodes']} but trainer.num_nodes={trainer.get('num_nodes', 1)}: "
            f"a DDP job spans trainer.num_nodes nodes, so they must be equal."
        )
    out["signal_delay_s"] = signal_delay(int(out["timeout_min"]), out.get("signal_delay_s"))
    return out


def signal_delay(timeout_min: int, asked: int | None) -> int:
    """Seconds before the time limit at which SLURM warns the job (USR2: checkpoint and requeue).

    The warning must reach a job that has installed its handler and trained a while: SLURM may send it up
    to 60 s early, and an unhandled USR2 kills the process. So it comes in the last quarter of the limit
    (at most 120 s before it) unless set, and a set value must leave at least half the limit plus 60 s.
    """
    limit_s = timeout_min * 60
    if timeout_min < 1:
        raise SlurmSettingError(f"hydra.launcher.timeout_min={timeout_min}: SLURM's time limit is at least 1 minute.")
    if asked is None:
        return min(120, limit_s // 4)
    if asked < 0 or asked + _SIGNAL_SLACK_S > limit_s // 2:
        raise SlurmSettingError(
            f"hydra.launcher.signal_delay_s={asked} with hydra.launcher.timeout_min={timeout_min}: SLURM may send "
            f"the warning signal up to {_SIGNAL_SLACK_S} s earlier than asked, so it could reach the job before the "
            f"job can act on it. Use at most {max(0, limit_s // 2 - _SIGNAL_SLACK_S)} s, or leave it unset "
            f"(the last quarter of the time limit)."
        )
    return asked


# Where the CPU request comes from, for the messages that say it is too large.
_CPUS = "data.num_workers + 1 unless hydra.launcher.cpus_per_task is set: lower either"
# What sbatch says -> the settings that asked for it.
_SBATCH_HINTS = (
    ("generic resource", "gpus_per_node", "no GPUs there: on a CPU partition pass trainer=cpu (or set {key}=0)"),
    ("gres", "gpus_per_node", "no GPUs there: on a CPU partition pass trainer=cpu (or set {key}=0)"),
    ("invalid partition", "partition", "see `sinfo -s` for the partitions"),
    ("invalid account", "account", "see `sacctmgr show assoc user=$USER` for your accounts"),
    ("qos", "qos", "see `sacctmgr show qos`"),
    ("time limit", "timeout_min", "see the partition's TIMELIMIT in `sinfo`"),
    ("memory specification", "mem_gb", "more than a node has; see `sinfo -o '%P %m'` (MB per node)"),
    ("cpu count", "cpus_per_task", f"more than a node has ({_CPUS}); see `sinfo -o '%P %c'`"),
    ("node configuration is not available", "cpus_per_task/mem_gb/gpus_per_node", "no node of the partition has that"),
)


def submission_refused(sbatch_output: str, params: dict[str, Any]) -> SlurmSettingError:
    """sbatch's refusal as one message naming the launcher settings behind it."""
    lines = [m.group(1).strip() for m in re.finditer(r"sbatch: error: (.*)", sbatch_output)]
    said = "; ".join(dict.fromkeys(lines)) or sbatch_output.strip().splitlines()[-1]
    low = said.lower()
    for needle, key, hint in _SBATCH_HINTS:
        if needle in low:
            names = key.split("/")
            shown = ", ".join(f"hydra.launcher.{k}={params.get(k)}" for k in names)
            return SlurmSettingError(
                f"sbatch refused the sweep's jobs ({said}): {shown}: {hint.format(key='hydra.launcher.' + names[0])}."
            )
    shown = ", ".join(f"hydra.launcher.{k}={params.get(k)}" for k in _RESOURCE_KEYS if params.get(k) is not None)
    return SlurmSettingError(f"sbatch refused the sweep's jobs ({said}); the request was: {shown}.")


_RESOURCE_KEYS = ("partition", "account", "qos", "timeout_min", "nodes", "tasks_per_node", "gpus_per_node")
_RESOURCE_KEYS += ("cpus_per_task", "mem_gb")


def requeued_overrides(overrides: Sequence[str]) -> list[str]:
    """A job SLURM started again (time limit with requeue, pre-emption, node failure) continues its run:
    it resumes from last.ckpt, or is skipped when it had finished (SLURM_RESTART_COUNT counts the restarts).
    Not decided in the launcher's checkpoint() (submitit's requeue at the time limit): SLURM requeues a
    pre-empted job, or one whose node failed, itself, without calling it."""
    if int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0) == 0:
        return list(overrides)
    return [o for o in overrides if o.lstrip("+~").split("=")[0] != "resume"] + [RESUME_OVERRIDE]
