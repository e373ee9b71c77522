"""Where the Hydra configs live, and checks that fail before any work starts."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from tl_lightning.archs import ARCHS

# Installed wheels carry conf/ inside the package; a source checkout keeps it at the repo root.
_PACKAGED = Path(__file__).parent / "conf"
CONF_DIR = _PACKAGED if _PACKAGED.is_dir() else Path(__file__).resolve().parents[2] / "conf"


def check_config(cfg: DictConfig) -> None:
    """Reject settings that would only fail later, naming the setting."""
    problems = []
    if cfg.arch.name not in ARCHS:
        problems.append(f"arch={cfg.arch.name!r} is unknown: choose one of {', '.join(sorted(ARCHS))}")
    if not cfg.optimizer.lr > 0:
        problems.append(f"optimizer.lr={cfg.optimizer.lr} must be > 0")
    if cfg.trainer.max_epochs is None or cfg.trainer.max_epochs < 1:
        problems.append(f"trainer.max_epochs={cfg.trainer.max_epochs} must be >= 1")
    if cfg.data.batch_size < 1:
        problems.append(f"data.batch_size={cfg.data.batch_size} must be >= 1")
    from tl_lightning.guards import config_problems  # late import: guards needs CONF_DIR from here

    problems += config_problems(cfg)
    if problems:
        raise ValueError("Invalid configuration:\n  " + "\n  ".join(problems))
