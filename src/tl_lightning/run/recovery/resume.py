"""Recovering killed runs: skip finished ones, resume from last.ckpt, and make the resumed run exact.

A run dir is finished once it holds metrics.json. With `resume=true` (or `ckpt_path=last`), a
finished run is skipped, a run with checkpoints/last.ckpt continues from it, and any other run
starts fresh, so re-launching a killed sweep with its sweep dir finishes exactly what is left.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from tl_lightning.model.checkpoint import CheckpointError, read_checkpoint
from tl_lightning.report.belongs import config_mismatch
from tl_lightning.report.read import BadRun, read_metrics
from tl_lightning.run.folder.hint import hydra_quoted, resume_command
from tl_lightning.run.recovery import settings
from tl_lightning.run.recovery.settings import run_settings


def finished_metrics(cfg: DictConfig, out: Path) -> dict | None:
    """metrics.json of a finished run when resuming, else None (the run has to train)."""
    path = out / "metrics.json"
    if not wants_resume(cfg) or not path.is_file():
        return None
    try:
        metrics = read_metrics(path)  # the report's reader: one verdict on a run file for every tool
    except BadRun as err:  # e.g. cut short by a version that wrote it in place
        raise CheckpointError(
            f"{path} cannot be used ({err}), so whether {out} finished is unknown: delete it to let resume=true "
            f"continue the run from its last checkpoint."
        ) from err
    ours = {"arch": {"name": cfg.arch.name}, "strategy": {"name": cfg.strategy.name}, "seed": cfg.seed}
    ours |= {"optimizer": {"lr": cfg.optimizer.lr}, "data": {"batch_size": cfg.data.batch_size}}
    if diffs := config_mismatch(metrics, ours):
        raise CheckpointError(
            f"{path} is another experiment's result ({'; '.join(diffs)}), so resume=true cannot call this run "
            f"finished: resume with that run's settings, or give this run another hydra.run.dir."
        )
    print(f"{out} already finished (metrics.json exists): skipping it. Delete metrics.json to train it again.")
    return metrics


# Overrides that do not change what a run computes: a run differing only in these is the same run.
_NOT_SETTINGS = ("resume", "ckpt_path", "quiet", "print_config", "trainer.enable_progress_bar", "pin_gpu")


def check_resume_target(cfg: DictConfig, out: Path) -> None:
    """`resume=true` without a run folder (a single run in a new, dated folder) has nothing to continue:
    refuse, naming the latest unfinished run with the same overrides and the command that continues it."""
    if not cfg.get("resume") or not HydraConfig.initialized() or (out / "metrics.json").exists():
        return
    hydra = HydraConfig.get()
    given = any(o.startswith("hydra.run.dir=") for o in hydra.overrides.hydra)
    fresh = OmegaConf.select(hydra, "runtime.output_dir", default=None) == str(out)
    if hydra.mode != RunMode.RUN or given or not fresh or last_checkpoint(cfg, out).is_file():
        return
    ours = _settings_overrides(hydra.overrides.task)
    runs = [d for d in out.parent.glob("*") if d != out and _unfinished(d) and _overrides_of(d) == ours]
    if not runs:
        raise CheckpointError(
            f"resume=true: no unfinished run with these overrides under {out.parent}, so there is nothing to "
            f"continue. Drop resume=true to start a new run, or name the run's folder: resume=true "
            f"{hydra_quoted('hydra.run.dir', 'FOLDER')}"
        )
    latest = max(runs, key=lambda d: (d / "checkpoints" / "last.ckpt").stat().st_mtime_ns)
    raise CheckpointError(
        f"resume=true needs the run's folder (this command would start a new run in a new folder). The latest "
        f"unfinished run with these overrides is {latest}; continue it with:\n  {resume_command(latest)}"
    )


def _settings_overrides(overrides: list[str]) -> list[str]:
    return sorted(o for o in overrides if o.lstrip("+~").split("=")[0] not in _NOT_SETTINGS)


def _unfinished(run: Path) -> bool:
    return (run / "checkpoints" / "last.ckpt").is_file() and not (run / "metrics.json").exists()


def _overrides_of(run: Path) -> list[str] | None:
    try:
        return _settings_overrides(list(OmegaConf.load(run / ".hydra" / "overrides.yaml")))
    except (OSError, ValueError, TypeError):
        return None


def wants_resume(cfg: DictConfig) -> bool:
    return bool(cfg.get("resume")) or cfg.get("ckpt_path") == "last"


def checkpoint_to_resume(cfg: DictConfig, out: Path, classes: list[str]) -> str | None:
    """The checkpoint fit should continue from, checked to be safe and to match this experiment."""
    explicit = cfg.get("ckpt_path")
    if explicit and explicit != "last":
        path = Path(explicit)
        if not path.is_file():
            raise CheckpointError(f"ckpt_path={path}: no such file.")
    elif wants_resume(cfg):
        path = last_checkpoint(cfg, out)
        if not path.is_file():
            print(f"resume: no {path} yet, so this run starts from the beginning.")
            return None
    else:
        return None
    check_checkpoint(path, run_settings(cfg, classes))
    print(f"Resuming from {path}")
    return str(path)


def last_checkpoint(cfg: DictConfig, out: Path) -> Path:
    """checkpoints/last.ckpt, or the newest last-vN.ckpt that a re-run with Lightning's version counter wrote."""
    folder = Path(OmegaConf.select(cfg, "callbacks.model_checkpoint.dirpath", default=None) or out / "checkpoints")
    candidates = [p for p in folder.glob("last*.ckpt") if p.name == "last.ckpt" or p.stem.startswith("last-v")]
    return max(candidates, key=lambda p: p.stat().st_mtime_ns, default=folder / "last.ckpt")


def check_checkpoint(path: Path, ours: dict[str, Any]) -> None:
    """Refuse a checkpoint of another experiment, naming every setting that differs.

    Read with weights_only=True (nothing but tensors and plain containers is ever unpickled).
    """
    checkpoint = read_checkpoint(path, "ckpt_path")
    saved = checkpoint.get(settings.KEY)
    if not isinstance(saved, dict):  # written before checkpoints carried their settings: compare what they hold
        hparams = checkpoint["hyper_parameters"]
        saved = {"arch": hparams.get("arch"), "strategy.unfreeze": hparams.get("unfreeze")}
        saved["classes"] = list(hparams.get("class_names") or [])
        ours = {k: ours[k] for k in saved}
    if diffs := settings.differences(saved, ours):
        raise CheckpointError(
            f"{path} belongs to another experiment, so this run cannot continue it; these settings differ:\n  "
            + "\n  ".join(diffs)
            + "\nResume with the checkpoint's own settings, or give this run another hydra.run.dir."
        )


class RNGState(L.Callback):
    """Save the global RNG states with each checkpoint and restore them on resume.

    Checkpoints are written at the end of an epoch. The train order and every crop are drawn from
    (seed, epoch, sample index) alone (data/seeding.py), whichever worker serves them, so loader
    workers need no saved state; what the main process draws from the global RNGs after the
    checkpoint (dropout masks) continues from these states, as in an uninterrupted run.
    """

    def state_dict(self) -> dict[str, Any]:
        np_state = np.random.get_state()
        state = {
            "torch": torch.get_rng_state(),
            "numpy": [np_state[0], torch.from_numpy(np_state[1].copy()), *np_state[2:]],
            "python": random.getstate(),
        }
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        torch.set_rng_state(state["torch"])
        name, keys, *rest = state["numpy"]
        np.random.set_state((name, keys.numpy(), *rest))
        random.setstate(_as_tuples(state["python"]))
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuples(value: Any) -> Any:
    # random.setstate needs tuples; a checkpoint round trip may hand back lists.
    return tuple(_as_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value
