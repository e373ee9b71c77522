"""Reading this package's Lightning checkpoints back into a TransferLearningModule, weights_only."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import torch

from tl_lightning.errors import UserError
from tl_lightning.model.loading import load_tensors, non_finite
from tl_lightning.model.module import TransferLearningModule


class CheckpointError(UserError):
    """A checkpoint is not this package's, or does not fit the run that wants it."""


def read_checkpoint(path: Path, setting: str) -> dict[str, Any]:
    """The checkpoint dict (weights_only), checked to be a Lightning checkpoint of this package."""
    checkpoint = load_tensors(path, setting)
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise CheckpointError(f"{setting}={path} is not a Lightning checkpoint (it has no state_dict).")
    if not isinstance(checkpoint.get("hyper_parameters"), dict) or "arch" not in checkpoint["hyper_parameters"]:
        raise CheckpointError(f"{setting}={path} is not a tl_lightning checkpoint (its hyper_parameters lack arch).")
    if bad := non_finite(checkpoint["state_dict"]):
        more = f" (+{len(bad) - 3} more)" if len(bad) > 3 else ""
        raise CheckpointError(
            f"{setting}={path} holds NaN or infinite weights ({', '.join(bad[:3])}{more}): the file is corrupt or the "
            f"run diverged before it was saved. Use an earlier checkpoint (best.ckpt) or retrain."
        )
    return checkpoint


# hyper_parameters the module takes, and what each must be: a tampered file fails here, naming the key.
_KINDS = {
    "arch": (str,),
    "class_names": (list,),
    "weights": (str, type(None)),
    "unfreeze": (int, str, type(None)),
    "image_size": (int,),
    "optimizer": (dict, type(None)),
    "scheduler": (dict, type(None)),
    "aux_loss_weight": (int, float),
    "channels_last": (bool, type(None)),
    "head": (str,),
}
# The same settings as the run recorded them in checkpoint["tl_settings"] (run/recovery/settings.py): they must agree.
_RECORDED = {"image_size": "arch.image_size", "class_names": "classes", "arch": "arch"}


def check_hyper_parameters(checkpoint: dict[str, Any], path: Path, setting: str) -> dict[str, Any]:
    """The checkpoint's module settings, or CheckpointError naming the file and the key that is wrong."""
    hparams = checkpoint["hyper_parameters"]
    known = module_arguments()
    for key in hparams:
        if key not in known:
            raise CheckpointError(
                f"{setting}={path}: hyper_parameters.{_shown(key)} is not a setting of this package's model (known: "
                f"{', '.join(sorted(known))}); the file was edited or written by another program."
            )
    for key, kinds in _KINDS.items():
        value = hparams.get(key)
        if key in hparams and (not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)):
            raise CheckpointError(
                f"{setting}={path}: hyper_parameters.{key}={_shown(value)} is not {_kind_words(kinds)}."
            )
    names = hparams.get("class_names")
    if not names or len(names) < 2 or len(set(names)) != len(names) or not all(isinstance(n, str) for n in names):
        raise CheckpointError(
            f"{setting}={path}: hyper_parameters.class_names={_shown(names)} is not a list of at least two distinct "
            f"class names; the file was edited or is not a trained classifier."
        )
    recorded = checkpoint.get("tl_settings")
    for key, other in _RECORDED.items():
        if isinstance(recorded, dict) and other in recorded and recorded[other] != hparams.get(key):
            raise CheckpointError(
                f"{setting}={path}: hyper_parameters.{key}={_shown(hparams.get(key))} disagrees with the run's "
                f"recorded tl_settings.{other}={_shown(recorded[other])}; the file was edited. Use the checkpoint the "
                f"run wrote."
            )
    return hparams


def load_module(path: Path, setting: str = "ckpt", map_location: str | torch.device = "cpu") -> TransferLearningModule:
    """The trained module in eval mode. Built with weights="none": its own state dict replaces them."""
    checkpoint = read_checkpoint(path, setting)
    hparams = check_hyper_parameters(checkpoint, path, setting)
    try:
        module = TransferLearningModule(**{**hparams, "weights": "none"})
    except ValueError as err:  # an unknown arch or head, an unfreeze or image size out of range
        raise CheckpointError(f"{setting}={path}: its settings do not build a model ({err})") from err
    try:
        module.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"{setting}={path}: its weights do not fit its own settings ({err}).") from err
    return module.to(map_location).eval()


def module_arguments() -> set[str]:
    """The arguments of TransferLearningModule, which a checkpoint's hyper_parameters may hold."""
    return set(inspect.signature(TransferLearningModule.__init__).parameters) - {"self"}


def _shown(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _kind_words(kinds: tuple[type, ...]) -> str:
    words = {str: "a string", int: "an integer", float: "a number", list: "a list", dict: "a mapping"}
    words |= {bool: "true/false", type(None): "null"}
    return " or ".join(words[k] for k in kinds)
