"""Inputs every run needs and no run should fetch on its own: the dataset and each arch's weights.

A sweep obtains them once, before its first job (SweepSummary.on_multirun_start), so that offline nine
jobs do not each try the download, and stops at once, with one message listing every missing input,
when they cannot be had. A single run checks its own arch's ImageNet weights the same way before it builds
anything, so the user gets the same message.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torchvision
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from tl_lightning.conf import CONF_DIR
from tl_lightning.data.download import URL, ensure_dataset
from tl_lightning.data.images import MAX_IMAGE_PIXELS
from tl_lightning.data.scan import check_dataset
from tl_lightning.errors import UserError
from tl_lightning.model.weights import imagenet_state_dict, lacks_file, weights_file
from tl_lightning.run.recovery.one_experiment import nested_problem


class InputsError(UserError):
    """The dataset or some arch's weights cannot be had; nothing has run yet."""


def sweep_values(config: DictConfig, key: str) -> list[str]:
    """Every value `key` takes in a multirun: its command-line override (`arch=a,b`) and hydra.sweeper.params
    (an experiment's sweep). Empty when the sweep does not set it."""
    lines = [str(o) for o in config.hydra.overrides.task]
    params = OmegaConf.select(config, "hydra.sweeper.params") or {}
    lines += [f"{k}={v}" for k, v in params.items()]
    values: list[str] = []
    for override in OverridesParser.create().parse_overrides(lines):
        if override.key_or_group != key:
            continue
        found = override.sweep_string_iterator() if override.is_sweep_override() else [override.value()]
        values += [str(v) for v in found if str(v) not in values]
    return values


def arch_names(config: DictConfig) -> list[str]:
    """torchvision names of the sweep's archs (conf/arch/<choice>.yaml's `name`, or arch.name for `torchvision`)."""
    choices = sweep_values(config, "arch") or [OmegaConf.select(config, "hydra.runtime.choices.arch") or "alexnet"]
    names: list[str] = []
    for choice in choices:
        path = CONF_DIR / "arch" / f"{choice}.yaml"
        name = OmegaConf.load(path).get("name") if path.is_file() else choice
        found = sweep_values(config, "arch.name") or [config.arch.name] if name == "???" else [name]
        names += [n for n in found if n not in names]
    return names


def prepare_sweep(config: DictConfig) -> None:
    """Download/scan the dataset and obtain each arch's weights once; raise InputsError listing what is missing."""
    problems = []
    try:
        sweep_dir = OmegaConf.select(config, "hydra.sweep.dir")
    except Exception:  # noqa: BLE001 - an interpolation that does not resolve here: Hydra reports it itself
        sweep_dir = None
    data_root = Path(str(config.data.root)).expanduser()
    if sweep_dir and (nested := nested_problem("hydra.sweep.dir", Path(str(sweep_dir)), data_root)) is not None:
        raise InputsError(f"The sweep cannot start; no job has run:\n  {nested}")  # before any download or scan
    try:
        # "auto" stays "auto" (only the default root is downloaded into); bool("auto") would be True
        download, url = config.data.get("download", "auto"), config.data.get("url", URL)  # the jobs' own settings
        root = ensure_dataset(Path(config.data.root), download=download, url=url)
        limit = config.data.get("max_image_pixels", MAX_IMAGE_PIXELS)  # the jobs' own limit, not the default
        pooled = config.data.get("folds") is not None
        check_dataset(root, config.data.get("on_bad_image", "error"), limit, pooled=pooled)
    except UserError as err:
        problems.append(str(err))
    weights = sweep_values(config, "arch.weights") or [config.arch.weights]
    for arch in arch_names(config):
        for value in weights:
            if config.arch.get("missing_weights") == "random" and lacks_file(arch, value):
                continue  # this arch trains from random initialisation (run/config.apply_missing_weights)
            if (problem := weights_problem(arch, value)) is not None:
                problems.append(problem)
    if problems:
        raise InputsError("The sweep cannot start; no job has run:\n  " + "\n  ".join(problems))


def weights_problem(arch: str, weights: str | None) -> str | None:
    """Why `arch` cannot get `weights`, or None. ImageNet weights: torchvision's cache, else one download."""
    if weights is None or str(weights).lower() == "none":
        return None
    if str(weights).lower() == "imagenet":
        return None if imagenet_cached(arch) or _try_download(arch) else _imagenet_missing(arch)
    try:
        weights_file(arch, weights).resolve(strict=True)
    except (UserError, OSError) as err:
        return f"{str(err).rstrip('.')}. {ways_out(arch)}"
    return None


def ensure_imagenet(arch: str) -> None:
    """A single run with arch.weights=imagenet: the cached file, one download, or one clear message."""
    if not (imagenet_cached(arch) or _try_download(arch)):
        raise InputsError(_imagenet_missing(arch))


def imagenet_cache_path(arch: str) -> Path:
    url = torchvision.models.get_model_weights(arch).DEFAULT.url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def imagenet_cached(arch: str) -> bool:
    return imagenet_cache_path(arch).is_file()


def _try_download(arch: str) -> bool:
    try:
        imagenet_state_dict(arch)  # downloads into the cache with a progress bar and checks the hash
    except UserError:
        return False
    return True


def _imagenet_missing(arch: str) -> str:
    return (
        f"arch.weights=imagenet: torchvision's {arch} weights are not in the cache ({imagenet_cache_path(arch)}) "
        f"and could not be downloaded (offline?). {ways_out(arch)}"
    )


def ways_out(arch: str) -> str:
    return (
        f"Fix: pass arch.weights=DIR (a folder holding {arch}-*.pth files, one per arch; TL_WEIGHTS=DIR sets the "
        f"default) or arch.weights=FILE, fetch the file with `python -m tl_lightning.prefetch arch={arch}` on a "
        f"machine with network, or pass arch.weights=none (random initialisation)."
    )
