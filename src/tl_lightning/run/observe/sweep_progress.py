"""Sweep-level progress: `job 3 of 9 (arch=vgg16,strategy=extractor): 2 done in 4m 10s, about 14m 35s left`.

The total comes from the sweep's overrides (the product of the comma lists, as Hydra's basic sweeper
expands them) or a sweeper's n_trials; the estimate from the run folders that have finished (metrics.json or
failure.txt) and the time since the sweep started, so it also holds under a parallel launcher.
"""

from __future__ import annotations

import math
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig

FINISHED_MARKERS = ("metrics.json", "failure.txt")


def sweep_size(config: DictConfig) -> int | None:
    """How many jobs the sweep launches; None when the sweeper decides as it goes without a trial count."""
    sweeper = config.hydra.get("sweeper") or {}
    if sweeper.get("n_trials") is not None:  # Optuna and other search sweepers
        return int(sweeper.n_trials)
    if "BasicSweeper" not in str(sweeper.get("_target_", "BasicSweeper")):
        return None
    params = {str(k): str(v) for k, v in (sweeper.get("params") or {}).items()}
    words = [f"{k}={v}" for k, v in params.items()] + list(config.hydra.overrides.task)
    by_key = {}
    for override in OverridesParser.create().parse_overrides(words):  # the command line wins over params
        by_key[override.get_key_element()] = override
    return math.prod(len(list(o.sweep_string_iterator())) if o.is_sweep_override() else 1 for o in by_key.values())


def finished_jobs(sweep_dir: Path) -> int:
    if not sweep_dir.is_dir():
        return 0
    return sum(1 for p in sweep_dir.iterdir() if p.is_dir() and any((p / m).is_file() for m in FINISHED_MARKERS))


def progress_line(number: int, total: int | None, name: str, done: int, elapsed_s: float) -> str:
    """`number` counts from 1; the time left is the mean time per finished job times the jobs not finished."""
    line = f"job {number} of {total}" if total else f"job {number}"
    if name:
        line += f" ({name})"
    if done == 0:
        return f"{line}: the first to finish will give an estimate of the time left"
    line += f": {done} done in {duration(elapsed_s)}"
    if total:
        line += f", about {duration(elapsed_s / done * max(total - done, 0))} left"
    return line


def duration(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"
