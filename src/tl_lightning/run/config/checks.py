"""Config validation, in one place: every check that can fail before any data or weights are touched.

All problems are collected and raised together as one ConfigError naming each setting.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn as nn
from omegaconf import DictConfig, OmegaConf, open_dict

from tl_lightning.conf import CONF_DIR
from tl_lightning.data.download import DEFAULT_ROOT, ensure_dataset
from tl_lightning.data.folds import fold_problems
from tl_lightning.data.layout import DatasetError
from tl_lightning.data.scan import ON_BAD_IMAGE
from tl_lightning.errors import ConfigError, UserError
from tl_lightning.model.archs import ARCHS, build_backbone, get_spec, with_head
from tl_lightning.model.freezing import apply_freeze
from tl_lightning.model.frozen_pass import CHOICES as FROZEN_PASSES
from tl_lightning.model.spec import ArchSpec
from tl_lightning.model.weights import MISSING_WEIGHTS, check_compatible, lacks_file, read_state_dict, weights_file
from tl_lightning.run.inputs.choose import requested_regime
from tl_lightning.run.inputs.prepare import ways_out

log = logging.getLogger(__name__)


def check_config(cfg: DictConfig) -> None:
    """Reject settings that would only fail later, naming each setting."""
    problems = []
    if (arch_problem := unknown_arch(cfg.arch.name)) is not None:
        problems.append(arch_problem)
    if not cfg.optimizer.lr > 0:
        problems.append(f"optimizer.lr={cfg.optimizer.lr:g} must be > 0")  # :g: 0, not the schema's float 0.0
    if cfg.trainer.max_epochs is None or cfg.trainer.max_epochs < 1:
        problems.append(f"trainer.max_epochs={cfg.trainer.max_epochs} must be >= 1")
    if (frozen := str(cfg.trainer.get("frozen_pass", "auto"))) not in FROZEN_PASSES:
        problems.append(f"trainer.frozen_pass={frozen!r} is not one of {', '.join(FROZEN_PASSES)}")
    if cfg.data.batch_size < 1:
        problems.append(f"data.batch_size={cfg.data.batch_size} must be >= 1")
    if not (max_gb := OmegaConf.select(cfg, "cache.max_gb", default=4)) > 0:
        problems.append(f"cache.max_gb={max_gb:g} must be > 0 (cache.features=false turns the feature store off)")
    strategies = sorted(p.stem for p in (CONF_DIR / "strategy").glob("*.yaml"))
    if cfg.strategy.name not in strategies:
        problems.append(f"strategy={cfg.strategy.name!r} is unknown: choose one of {', '.join(strategies)}")
    problems += fold_problems(cfg.data.get("folds"), cfg.data.get("fold", 0), cfg.data.get("split_seed", 0))
    if cfg.data.get("download", "auto") not in ("auto", True, False):
        problems.append(f"data.download={cfg.data.download!r} must be auto, true or false")
    on_bad = cfg.data.get("on_bad_image", "error")
    if on_bad not in ON_BAD_IMAGE:
        problems.append(f"data.on_bad_image={on_bad!r} must be one of {', '.join(ON_BAD_IMAGE)}")
    try:
        requested_regime(cfg)
    except ConfigError as err:
        problems.append(str(err))
    if arch_problem is None:
        problems += _model_problems(cfg.arch.name, cfg)
    if cfg.arch.get("missing_weights", "error") not in MISSING_WEIGHTS:
        problems.append(
            f"arch.missing_weights={cfg.arch.missing_weights!r} must be one of {', '.join(MISSING_WEIGHTS)}"
        )
    if (data_problem := _data_root_problem(cfg)) is not None:  # with a missing weights folder: one message
        problems.append(data_problem)
    if problems:
        raise ConfigError("Invalid configuration:\n  " + "\n  ".join(problems))


def apply_missing_weights(cfg: DictConfig) -> None:
    """arch.missing_weights=random and a weights folder without this arch's file: train it from random init.

    arch.weights becomes none (what the model loads and the settings record) and arch.weights_folder keeps
    the folder, so the run's settings and weights_source say why (run/outputs/provenance.py).
    """
    if cfg.arch.get("missing_weights") != "random" or not lacks_file(cfg.arch.name, cfg.arch.get("weights")):
        return
    log.warning(
        "arch.weights=%s holds no %s-*.pth file: %s trains from random initialisation (arch.missing_weights=random)",
        cfg.arch.weights,
        cfg.arch.name,
        cfg.arch.name,
    )
    with open_dict(cfg):
        cfg.arch.weights_folder = str(cfg.arch.weights)
        cfg.arch.weights = "none"


def _data_root_problem(cfg: DictConfig) -> str | None:
    """Why data.root cannot be had, when it is absent and no download would fill it; the scan checks the rest."""
    root, download = Path(cfg.data.root), cfg.data.get("download", "auto")
    if root.exists() or download is True or (download == "auto" and root.resolve() == DEFAULT_ROOT.resolve()):
        return None
    try:
        ensure_dataset(root, download=download)  # refuses before touching anything: no download applies
    except DatasetError as err:
        return str(err).rstrip(".")
    return None


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
        raise ConfigError(f"arch.image_size=null: {cfg.arch.name} has no default input size; set arch.image_size.")
    with open_dict(cfg):
        cfg.arch.image_size = size


def _model_problems(arch: str, cfg: DictConfig) -> list[str]:
    # The meta device builds the layout without allocating or initialising weights: milliseconds.
    try:
        with torch.device("meta"):
            model = build_backbone(arch)
    except NotImplementedError:  # builders that compute sizes from tensors (regnet) need real ones
        model = build_backbone(arch)
    try:
        spec = with_head(model, get_spec(arch), cfg.arch.get("head") or "classifier")
    except ValueError as err:
        return [str(err).rstrip(".")]
    problems = _weights_problems(model, arch, spec, cfg.arch.get("weights"))
    unfreeze, batch_size = cfg.strategy.unfreeze, cfg.data.batch_size
    try:
        plan = apply_freeze(model, spec, unfreeze)
    except ValueError as err:
        return [*problems, str(err).rstrip(".")]
    if (size_problem := _image_size_problem(arch, cfg.arch.image_size, plan.aux_trains)) is not None:
        problems.append(size_problem)
    if batch_size == 1 and trains_batchnorm(model):
        problems.append(
            f"data.batch_size=1 cannot train {arch} with strategy.unfreeze={unfreeze}: its BatchNorm layers train "
            f"and need at least 2 images per batch. Use data.batch_size >= 2 or strategy=extractor"
        )
    return problems


def _image_size_problem(arch: str, size: int, aux_trains: bool) -> str | None:
    # Checked here, before the data scan, rather than by the module after the images have been decoded.
    spec = get_spec(arch)
    minimum, what = spec.min_image_size, arch
    if aux_trains and spec.aux_min_image_size:
        minimum, what = spec.aux_min_image_size, f"{arch} with its aux head training"
    if minimum is not None and size < minimum:
        return f"arch.image_size={size} is too small for {what}: the minimum is {minimum} px"
    return None


def _weights_problems(model: nn.Module, arch: str, spec: ArchSpec, weights: str | None) -> list[str]:
    """A weights file is read (weights_only) and matched against the layout before any data is touched."""
    if weights is None or str(weights).lower() in ("none", "imagenet"):
        return []
    try:
        path = weights_file(arch, weights)
        check_compatible(model, spec, read_state_dict(path), str(path))
    except UserError as err:
        return [f"{str(err).rstrip('.')}. {ways_out(arch)}"]
    return []


def trains_batchnorm(model: nn.Module) -> bool:
    """Whether any BatchNorm stays in train mode after freezing (eval-mode ones accept 1 image)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training for m in model.modules())
