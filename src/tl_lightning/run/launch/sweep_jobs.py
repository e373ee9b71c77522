"""How many jobs hydra/launcher=joblib_gpus runs at once: `n_jobs: ${tl_sweep_jobs:${jobs_per_gpu}}`.

Registered by the command line (run/cli.py) before Hydra composes a launcher config, so it imports no torch at
module level: `--help` and bad input are answered without it.
"""

from __future__ import annotations

import os

from omegaconf import OmegaConf

from tl_lightning.errors import ConfigError


def sweep_jobs(per_device: int) -> int:
    """Concurrent jobs for hydra/launcher=joblib_gpus: devices x jobs_per_gpu.

    Devices: $TL_NUM_GPUS when set (e.g. to use fewer GPUs than the machine has), else the visible CUDA
    devices, else 1 (the CPU, for CPU sweeps run side by side).
    """
    per_device = check_jobs_per_gpu(per_device)
    env = os.environ.get("TL_NUM_GPUS")
    if env and not (env.isdigit() and int(env) > 0):
        raise ConfigError(f"TL_NUM_GPUS={env!r} must be a number of GPUs >= 1, or unset to count the visible GPUs.")
    if env:
        return int(env) * per_device
    import torch  # only for a joblib_gpus sweep that counts its GPUs

    return (torch.cuda.device_count() or 1) * per_device


def check_jobs_per_gpu(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"jobs_per_gpu={value!r} must be an integer >= 1 (runs sharing one GPU at a time).")
    return value


def register_resolver() -> None:
    OmegaConf.register_new_resolver("tl_sweep_jobs", sweep_jobs, replace=True)


register_resolver()  # also for configs composed without the command line (tests)
