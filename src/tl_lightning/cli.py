"""`key=value` command lines (Hydra's style) for the small tools: predict and export."""

from __future__ import annotations

from pathlib import Path

import torch


class UsageError(ValueError):
    """A bad command line; the message names the argument."""


def parse_kv(argv: list[str], required: tuple[str, ...], optional: dict[str, str]) -> dict[str, str]:
    """Parse `key=value` words; every key must be known and every required key present."""
    known = (*required, *optional)
    args = dict(optional)
    for word in argv:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise UsageError(f"argument {word!r} is not key=value (expected keys: {', '.join(known)})")
        if key not in known:
            raise UsageError(f"unknown argument {key!r} in {word!r} (expected keys: {', '.join(known)})")
        args[key] = value
    missing = [k for k in required if not args.get(k)]
    if missing:
        raise UsageError(f"missing required argument(s): {', '.join(f'{k}=...' for k in missing)}")
    return args


def existing_file(key: str, value: str) -> Path:
    path = Path(value).expanduser()
    if not path.is_file():
        raise UsageError(f"{key}={value}: no such file")
    return path


def device(key: str, value: str) -> torch.device:
    if value == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(value)
    except RuntimeError as err:
        raise UsageError(f"{key}={value}: not a torch device ({err})") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"{key}={value}: CUDA is not available on this machine")
    return dev


def positive_int(key: str, value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"{key}={value}: expected a positive integer")
    return int(value)
