"""The one way a file the user names (weights, checkpoints) is read: torch.load(weights_only=True).

weights_only=True is passed explicitly, so no environment variable (TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD)
and no torch default can make a crafted file run code. Failures come in two kinds with their own
messages: a file that cannot be read at all (truncated, not a PyTorch file) and one that holds objects
beyond tensors and plain containers (refused, never unpickled).
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import torch

from tl_lightning.errors import UserError

# What torch's weights-only unpickler says when it meets a class or function it will not import (torch >= 2.4
# says "global", older ones "class"); any other failure means the bytes are not a readable pickle.
_REFUSED_MARKERS = ("Unsupported global", "Unsupported class")


class UnreadableFileError(UserError):
    """The file is missing, truncated or not a PyTorch file."""


class UnsafeFileError(UserError):
    """The file holds pickled objects that could run code; it was not loaded."""


def load_tensors(path: Path, setting: str) -> Any:
    """The file's content, unpickled with weights_only=True; `setting` names what the user set."""
    path = Path(path)
    if not path.is_file():
        raise UnreadableFileError(f"{setting}={path}: no such file.")
    try:
        # mmap: a check that reads only the pickle does not read every tensor of a large checkpoint.
        return torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except Exception as err:  # the unpickler's error types vary by torch version; the message decides
        if any(marker in str(err) for marker in _REFUSED_MARKERS):
            raise UnsafeFileError(
                f"{setting}={path} was refused: it holds objects beyond tensors and plain containers, which "
                f"could run code when unpickled, so it was not loaded (weights_only=True). Use files written "
                f"by this package or by torch.save(model.state_dict()). Loader said: {_first_line(err)}."
            ) from err
        raise UnreadableFileError(
            f"{setting}={path} cannot be read: truncated or not a PyTorch file ({type(err).__name__}: "
            f"{_first_line(err)})."
        ) from err


def non_finite(tensors: dict[str, Any]) -> list[str]:
    """Names of floating-point tensors holding NaN or inf: a corrupt file, not a learning-rate problem."""
    return [
        name
        for name, t in tensors.items()
        if isinstance(t, torch.Tensor) and t.is_floating_point() and not bool(torch.isfinite(t).all())
    ]


def _first_line(err: Exception) -> str:
    """The line that says what went wrong: torch's unpickler puts it after a paragraph of advice."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    said = [line.split("WeightsUnpickler error:", 1)[1].strip() for line in lines if "WeightsUnpickler error:" in line]
    first = (said or lines or ["no message"])[0] or "no message"
    return first.split(". ")[0].rstrip(".")
