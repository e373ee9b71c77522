"""`pin_gpu=true`: each run claims a slot on one GPU of its machine, so a parallel local sweep
(hydra/launcher=joblib_gpus) puts at most `jobs_per_gpu` jobs on each device.

A claim is an exclusive flock on <tmp>/tl_lightning-gpus/<gpu>.<slot>.lock, held for the run and released by
the OS even if the job dies. The job number only picks where the search starts; the locks decide, so no GPU
ever holds more than `jobs_per_gpu` concurrent jobs, even when joblib hands a finished worker a job whose
number collides. At the assignment's batch 4 one run leaves a GPU nearly idle, hence several per device.
"""

from __future__ import annotations

import fcntl
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from tl_lightning.errors import ConfigError
from tl_lightning.files import open_lock
from tl_lightning.run.launch.sweep_jobs import check_jobs_per_gpu

LOCK_DIR = Path(tempfile.gettempdir()) / "tl_lightning-gpus"


@contextmanager
def pinned(cfg: DictConfig) -> Iterator[None]:
    """With pin_gpu=true, set trainer.devices=[i] for a GPU i on which this run holds a slot until it ends."""
    per_gpu = check_jobs_per_gpu(cfg.get("jobs_per_gpu", 1))  # checked whether or not pin_gpu uses it
    if not cfg.get("pin_gpu"):
        yield
        return
    count = torch.cuda.device_count()
    if count == 0:
        raise ConfigError("pin_gpu=true needs CUDA GPUs, and this machine has none: drop pin_gpu or use trainer=cpu.")
    with claim(count, slots=per_gpu, start=_job_num(), lock_dir=LOCK_DIR) as index:
        with open_dict(cfg):
            cfg.trainer.devices = [index]
        print(f"pin_gpu: this run holds GPU {index} (up to {per_gpu} runs per GPU)")
        yield


@contextmanager
def claim(count: int, slots: int = 1, start: int = 0, lock_dir: Path = LOCK_DIR, poll_s: float = 1.0) -> Iterator[int]:
    """Hold a free slot of a device 0..count-1, each device having `slots` slots; wait while all are taken.

    Slot 0 of every device (searching from `start`) comes before slot 1 of any, so jobs spread over the
    devices before they double up.
    """
    lock_dir.mkdir(parents=True, exist_ok=True)
    while True:
        for slot in range(slots):
            for offset in range(count):
                index = (start + offset) % count
                handle = open_lock(lock_dir / f"{index}.{slot}.lock")  # held open for the whole run
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    handle.close()
                    continue
                try:
                    yield index
                finally:
                    handle.close()  # closing releases the lock
                return
        time.sleep(poll_s)


def _job_num() -> int:
    return int(HydraConfig.get().job.get("num") or 0) if HydraConfig.initialized() else 0
