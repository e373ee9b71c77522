"""`pin_gpu=true`: each run claims one free GPU of its machine, so a parallel local sweep
(hydra/launcher=joblib, n_jobs = number of GPUs) puts one job on each device.

A claim is an exclusive flock on <tmp>/tl_lightning-gpus/<index>.lock, held for the run and released by
the OS even if the job dies. The job number only picks where the search starts; the lock decides, so two
concurrent jobs never share a GPU even when joblib hands a finished worker a job whose number collides.
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

from tl_lightning.run.config import ConfigError

LOCK_DIR = Path(tempfile.gettempdir()) / "tl_lightning-gpus"


@contextmanager
def pinned(cfg: DictConfig) -> Iterator[None]:
    """With pin_gpu=true, set trainer.devices=[i] for a GPU i this run holds until it ends."""
    if not cfg.get("pin_gpu"):
        yield
        return
    count = torch.cuda.device_count()
    if count == 0:
        raise ConfigError("pin_gpu=true needs CUDA GPUs, and this machine has none: drop pin_gpu or use trainer=cpu.")
    with claim(count, start=_job_num()) as index:
        with open_dict(cfg):
            cfg.trainer.devices = [index]
        print(f"pin_gpu: this run holds GPU {index}")
        yield


@contextmanager
def claim(count: int, start: int = 0, lock_dir: Path = LOCK_DIR, poll_s: float = 1.0) -> Iterator[int]:
    """Hold the first free index of 0..count-1 (searching from `start`), waiting while all are taken."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    while True:
        for offset in range(count):
            index = (start + offset) % count
            handle = open(lock_dir / f"{index}.lock", "w")  # noqa: SIM115 - held open for the whole run
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
