"""A run folder holds one experiment.

A fresh run (no resume=true) started into a folder that holds another experiment's results (a metrics.json or
a checkpoint recording other settings) is refused before any work: killed after an epoch, it would leave the
old metrics.json beside its own config and checkpoints, and the report, resume and predict would each take a
different run for the folder's. The .hydra/ record that Hydra rewrote on the way in is put back
(folder_guard), so the folder is as it was. The same experiment's results may be trained over, as before: the
run computes them again, identically.
"""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import DictConfig

from tl_lightning.errors import UserError
from tl_lightning.model.checkpoint import CheckpointError, read_checkpoint
from tl_lightning.report.belongs import config_mismatch
from tl_lightning.report.read import BadRun, read_metrics
from tl_lightning.run.folder import guard as folder_guard
from tl_lightning.run.folder.guard import OtherRunsFolder
from tl_lightning.run.folder.lock import is_launcher
from tl_lightning.run.recovery import resume, settings


def refuse_other_results(cfg: DictConfig, out: Path) -> None:
    """OtherRunsFolder when this fresh run's folder holds another experiment's results."""
    if resume.wants_resume(cfg) or not is_launcher():  # a DDP rank joins its launcher's (checked) folder
        return
    found = _metrics_differences(cfg, out) or _checkpoint_differences(cfg, out)
    if not found:
        return
    folder_guard.restore_record(out)
    raise OtherRunsFolder(
        f"{out} holds another run's results ({found}), and a run folder holds one experiment: give this run "
        f"another folder (hydra.run.dir=..., or leave it out for a new dated one), or resume=true with that "
        f"run's settings to continue or skip it."
    )


def nested_problem(key: str, out: Path, root: Path) -> str | None:
    """Why the output folder and the data root must not nest, or None: outputs under data.root become images
    of the next job (a sweep's PNGs validated as "ants"), and a data root under an output folder is in the way
    of what runs write and remove there."""
    real_out, real_root = Path(os.path.realpath(out)), Path(os.path.realpath(root))
    if real_out == real_root or real_root in real_out.parents:
        return f"{key}={out} is inside data.root={root}: its files would be read as images; put outputs elsewhere"
    if real_out in real_root.parents:
        return f"data.root={root} is inside {key}={out}: keep the images outside the output folders"
    return None


def refuse_nested(cfg: DictConfig, out: Path) -> None:
    """UserError before any work when this run's folder and its data root nest (nested_problem)."""
    if (problem := nested_problem("hydra.run.dir", out, Path(str(cfg.data.root)).expanduser())) is not None:
        raise UserError(problem)


def _metrics_differences(cfg: DictConfig, out: Path) -> str:
    path = out / "metrics.json"
    if not path.exists():
        return ""
    try:
        metrics = read_metrics(path)
    except BadRun as err:
        return f"a metrics.json this run cannot read: {err}"
    ours = {"arch": {"name": cfg.arch.name}, "strategy": {"name": cfg.strategy.name}, "seed": cfg.seed}
    ours |= {"optimizer": {"lr": cfg.optimizer.lr}, "data": {"batch_size": cfg.data.batch_size}}
    diffs = config_mismatch(metrics, ours)
    return f"metrics.json of other settings: {'; '.join(diffs)}" if diffs else ""


def _checkpoint_differences(cfg: DictConfig, out: Path) -> str:
    path = resume.last_checkpoint(cfg, out)
    if not path.is_file():
        return ""
    try:
        saved = read_checkpoint(path, "checkpoints").get(settings.KEY)
    except CheckpointError as err:
        return f"a checkpoint this run cannot read: {err}"
    if not isinstance(saved, dict):
        return f"{path.name}, whose settings are not recorded"
    diffs = settings.differences(saved, settings.run_settings(cfg, list(saved.get("classes") or [])))
    return f"{path.name} of other settings: {'; '.join(diffs[:3])}" if diffs else ""
