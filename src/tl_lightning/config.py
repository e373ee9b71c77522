"""Where the Hydra configs live, and checks that fail before any work starts."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, open_dict

from tl_lightning.archs import ARCHS, get_spec

# Installed wheels carry conf/ inside the package; a source checkout keeps it at the repo root.
_PACKAGED = Path(__file__).parent / "conf"
CONF_DIR = _PACKAGED if _PACKAGED.is_dir() else Path(__file__).resolve().parents[2] / "conf"


def check_config(cfg: DictConfig) -> None:
    """Reject settings that would only fail later, naming the setting."""
    problems = []
    if (arch_problem := unknown_arch(cfg.arch.name)) is not None:
        problems.append(arch_problem)
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


def unknown_arch(name: str) -> str | None:
    """Why `name` cannot be built, or None when it is in the table or discoverable from torchvision."""
    try:
        get_spec(name)
    except ValueError as err:
        table = ", ".join(sorted(ARCHS))
        return (
            f"arch={name!r} is unknown: choose one of {table}, or a torchvision classification model "
            f"(arch=torchvision arch.name=<model>). {err}"
        )
    return None


def resolve_image_size(cfg: DictConfig) -> None:
    """arch.image_size=null takes the crop size of torchvision's weights for the arch (e.g. 224 for resnet18)."""
    if cfg.arch.get("image_size") is not None or unknown_arch(cfg.arch.name) is not None:
        return
    size = get_spec(cfg.arch.name).image_size
    if size is None:
        raise ValueError(f"arch.image_size=null: {cfg.arch.name} has no default input size; set arch.image_size.")
    with open_dict(cfg):
        cfg.arch.image_size = size
