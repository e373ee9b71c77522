"""Pretrained weights: torchvision's ImageNet download, none, or a local state-dict file."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.error import URLError

import torch
import torch.nn as nn
import torchvision

from tl_lightning.errors import UserError
from tl_lightning.model.loading import load_tensors, non_finite
from tl_lightning.model.spec import ArchSpec
from tl_lightning.progress import is_quiet


class WeightsError(UserError):
    """Weights could not be obtained or do not fit the architecture."""


def load_pretrained(model: nn.Module, arch: str, spec: ArchSpec, weights: str | None) -> None:
    """Load `weights` ("imagenet", "none"/None, or a path) into the un-headed torchvision `model`.

    Keys may be missing only where the new head (and aux head) will replace them: the offline
    AlexNet/VGG16 files hold `features.*` alone, which is all their linear probe needs.
    """
    if weights is None or str(weights).lower() == "none":
        return
    if str(weights).lower() == "imagenet":
        state, source = imagenet_state_dict(arch), f"torchvision's ImageNet weights for {arch}"
    else:
        path = weights_file(arch, weights)
        state, source = read_state_dict(path), str(path)
    check_compatible(model, spec, state, source)
    model.load_state_dict(state, strict=False)


MISSING_WEIGHTS = ("error", "random")  # arch.missing_weights: what a weights folder without the arch's file means


def lacks_file(arch: str, weights: str | Path | None) -> bool:
    """Whether `weights` is a folder holding no `<arch>-*.pth` / `<arch>_*.pth` file (arch.missing_weights applies)."""
    path = Path(str(weights))
    return weights is not None and path.is_dir() and not any(_arch_files(arch, path))


def _arch_files(arch: str, folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix == ".pth" and p.name.startswith((f"{arch}-", f"{arch}_")))


def weights_file(arch: str, weights: str | Path) -> Path:
    """`weights` itself, or for a folder its `<arch>-*.pth` / `<arch>_*.pth` file (torchvision's naming),
    so one `arch.weights=DIR` serves every arch of an offline sweep."""
    path = Path(weights)
    if not path.is_dir():
        return path
    matches = _arch_files(arch, path)
    if len(matches) != 1:
        found = ", ".join(p.name for p in matches) or "none"
        why = "" if matches else f"; arch.missing_weights=random trains {arch} from random initialisation instead"
        need = f"it needs exactly one {arch}-*.pth file (found: {found}){why}"
        raise WeightsError(f"arch.weights={path} is a folder: {need}.")
    return matches[0]


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a plain torchvision-layout file or from this package's Lightning checkpoint."""
    if not path.is_file():
        raise WeightsError(f"arch.weights: no file at {path} (use imagenet, none, or a state-dict path).")
    obj = load_tensors(path, "arch.weights")
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):  # a Lightning checkpoint
        obj = {k.removeprefix("model."): v for k, v in obj["state_dict"].items()}
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"arch.weights: {path} does not hold a dict of tensors.")
    if bad := non_finite(obj):
        raise WeightsError(
            f"arch.weights: {path} holds NaN or infinite values in {_first(bad)}: the file is corrupt (or was saved "
            f"from a diverged run). Use another copy, e.g. the run's best.ckpt, or arch.weights=imagenet."
        )
    return obj


def check_compatible(model: nn.Module, spec: ArchSpec, state: dict, source: str) -> None:
    expected = model.state_dict()
    replaced = tuple(p + "." for p in (spec.head, spec.aux_head) if p)
    # A head key is never unexpected: the head is replaced, whatever its old shape or layout (this package's own
    # checkpoints hold a single Linear `classifier.*` where torchvision's AlexNet has `classifier.6.*`).
    unexpected = [k for k in state if k not in expected and not k.startswith(replaced)]
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in state
        if k in expected and state[k].shape != expected[k].shape and not k.startswith(replaced)
    ]
    missing = [k for k in expected if k not in state and not k.startswith(replaced)]
    problems = []
    if unexpected:
        problems.append(f"keys the model does not have: {_first(unexpected)}")
    if shapes:
        problems.append(f"shape mismatches: {_first(shapes)}")
    if missing:
        problems.append(f"kept layers the file leaves random: {_first(missing)}{_kept_head_hint(spec, missing)}")
    if problems:
        raise WeightsError(f"arch.weights {source} does not fit {type(model).__name__}: " + "; ".join(problems))
    # The old heads are discarded; drop their tensors so shape checks in load_state_dict pass.
    for k in [k for k in state if k.startswith(replaced)]:
        del state[k]


def _kept_head_hint(spec: ArchSpec, missing: list[str]) -> str:
    """Why layers beside the replaced head are missing: arch.head=last_linear keeps them (e.g. AlexNet's fc6/fc7)."""
    parent = spec.head.rpartition(".")[0]
    if not parent or not all(k.startswith(parent + ".") for k in missing):
        return ""
    return (
        f" (arch.head=last_linear replaces only {spec.head} and keeps the rest of {parent}, so the file must hold "
        f"them: use arch.weights=imagenet or a complete file, or arch.head=classifier to replace all of {parent})"
    )


def _first(keys: list[str], n: int = 5) -> str:
    more = f" (+{len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def imagenet_state_dict(arch: str) -> dict[str, torch.Tensor]:
    enum = torchvision.models.get_model_weights(arch).DEFAULT
    url = enum.url
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
    try:
        return enum.get_state_dict(progress=not is_quiet(), check_hash=True)
    except (URLError, OSError, RuntimeError) as err:
        raise WeightsError(
            f"Could not download ImageNet weights for {arch} from {url} ({err}).\n"
            f"Offline options:\n"
            f"  1. put that file at {cached} (the torchvision cache; set TORCH_HOME to move it), or\n"
            f"  2. pass arch.weights=/path/to/state_dict.pth (torchvision layout), or arch.weights=none."
        ) from err
