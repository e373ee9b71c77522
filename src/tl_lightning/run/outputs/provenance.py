"""What defines a run, written into metrics.json so a study can group runs and say what each one did.

`settings` is a flat dict of JSON scalars: two runs with equal settings but for `seed` are repeats of
one experiment. The sentences beside it (weights source, augmentation, head) say the same for readers.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import torchvision
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from tl_lightning.data import ImageFolderDataModule
from tl_lightning.data.transforms import val_resize_size
from tl_lightning.model import TransferLearningModule
from tl_lightning.model.weights import weights_file


def describe(
    cfg: DictConfig,
    module: TransferLearningModule,
    datamodule: ImageFolderDataModule,
    regime: str,
    input_cache: str,
    frozen_pass: str | None = None,
) -> dict:
    """The provenance keys of metrics.json. `settings` are the run's defining settings; `steps_per_epoch` is what
    the train loader gave in epoch 1 (None before fit); `frozen_pass` is how the frozen layers ran
    (model/frozen_pass.py): bf16 changes the cached features."""
    weights = cfg.arch.get("weights")
    path = _weights_path(cfg.arch.name, weights)
    # Only where arch.missing_weights=random applied (the folder has no file for this arch): other runs' settings
    # stay as they were, so the report does not split their cells on a new key.
    flagged = {"missing_weights": "random"} if cfg.arch.get("weights_folder") else {}
    settings = {
        **flagged,
        "arch": cfg.arch.name,
        "strategy": cfg.strategy.name,
        "unfreeze": module.plan.unfreeze,
        "weights": path.name if path else str(weights).lower(),
        "weights_sha256": sha256(path) if path else None,
        "head": module.hparams.head,
        "image_size": datamodule.image_size,
        "augmentation": regime,
        "input_cache": input_cache,
        "batch_size": datamodule.batch_size,
        "steps_per_epoch": module.steps_per_epoch,
        "optimizer": _class_name(cfg.optimizer),
        "lr": float(cfg.optimizer.lr),
        "scheduler": scheduler_text(cfg.get("scheduler")),
        "max_epochs": int(cfg.trainer.max_epochs),
        "precision": str(cfg.trainer.precision),
        "frozen_pass": frozen_pass,
        "seed": int(cfg.seed),
        # Cross-validation only (data/folds.py): which split trained and which fold was validated on.
        **(datamodule.split.columns() if datamodule.split is not None else {}),
    }
    return {
        "settings": settings,
        "overrides": task_overrides(),
        "weights_source": weights_source(cfg.arch.name, weights, cfg.arch.get("weights_folder")),
        "augmentation": augmentation_text(regime, datamodule.image_size),
        "head": head_info(module),
        "data_root": str(Path(datamodule.root).resolve()),  # the report draws only images under it
    }


def task_overrides() -> list[str]:
    """The command line's overrides of this run (Hydra's task overrides); [] outside a Hydra app."""
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def weights_source(arch: str, weights: str | None, folder: str | None = None) -> str:
    if folder:
        return f"random initialisation (arch.missing_weights=random: {folder} holds no {arch}-*.pth file)"
    if weights is None or str(weights).lower() == "none":
        return "random initialisation"
    if str(weights).lower() == "imagenet":
        return f"torchvision ImageNet weights ({torchvision.models.get_model_weights(arch).DEFAULT})"
    path = weights_file(arch, weights)
    return f"file {path.name} (sha256 {sha256(path)})"


def augmentation_text(regime: str, image_size: int) -> str:
    """The train inputs actually used, in words."""
    if regime == "plain":
        return f"plain eval view (resize {val_resize_size(image_size)}, center crop {image_size}), cached once"
    if regime.startswith("views-"):
        views = regime.removeprefix("views-")
        return f"{views} cached RandomResizedCrop({image_size})+flip views, one drawn per image per epoch"
    return f"RandomResizedCrop({image_size})+flip, fresh every epoch"


def head_info(module: TransferLearningModule) -> dict:
    head = module.model.get_submodule(module.spec.head)
    return {"mode": module.hparams.head, "replaced": module.spec.head, "in_features": head.in_features}


def scheduler_text(scheduler: DictConfig | None) -> str:
    """e.g. StepLR(step_size=7, gamma=0.1), or none."""
    if not scheduler:
        return "none"
    args = {k: v for k, v in OmegaConf.to_container(scheduler, resolve=True).items() if not k.startswith("_")}
    return f"{_class_name(scheduler)}({', '.join(f'{k}={v}' for k, v in args.items())})"


def sha256(path: Path) -> str:
    stat = path.stat()
    return _sha256(path.resolve(), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)  # settings and weights_source both name it; hashing VGG16's file takes a while
def _sha256(path: Path, _size: int, _mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _weights_path(arch: str, weights: str | None) -> Path | None:
    if weights is None or str(weights).lower() in ("none", "imagenet"):
        return None
    return weights_file(arch, weights)


def _class_name(node: DictConfig) -> str:
    return str(node.get("_target_", "?")).rsplit(".", 1)[-1]
