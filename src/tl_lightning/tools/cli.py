"""Command lines of the small tools (predict, export, prefetch): Hydra-style `key=value` words, parsed by
OmegaConf into a typed dataclass, with `--help`, and user errors printed as one line with exit status 2."""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import torch
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from tl_lightning.errors import UserError
from tl_lightning.files import OutputFolderError, atomic_open, refuse_links
from tl_lightning.spreadsheet import guard_row

Args = TypeVar("Args")


class UsageError(UserError):
    """A bad command line; the message names the argument."""


def parse_args(schema: type[Args], argv: list[str]) -> Args:
    """`key=value` words (dotted keys nest) checked against the dataclass `schema`; every field without a
    default must be given."""
    for word in argv:
        if "=" not in word or word.startswith("="):
            raise UsageError(f"argument {word!r} is not key=value (see --help)")
    try:
        cfg = OmegaConf.merge(OmegaConf.structured(schema), OmegaConf.from_cli(argv))
        missing = sorted(OmegaConf.missing_keys(cfg))
        if missing:
            raise UsageError(f"missing required argument(s): {', '.join(f'{k}=...' for k in missing)} (see --help)")
        return OmegaConf.to_object(cfg)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "argument"
        raise UsageError(f"{key}: {str(err).splitlines()[0]} (see --help)") from err


def run_tool(doc: str, schema: type[Args], body: Callable[[Args], int], argv: list[str] | None) -> int:
    """Print `doc` for -h/--help; otherwise parse and run `body`, turning user errors into one line."""
    argv = sys.argv[1:] if argv is None else argv
    if any(word in ("-h", "--help") for word in argv):
        print(doc.strip())
        return 0
    try:
        return body(parse_args(schema, argv))
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def existing_file(key: str, value: str) -> Path:
    path = Path(value).expanduser()
    if not path.is_file():
        raise UsageError(f"{key}={value}: no such file")
    return path


def output_file(key: str, value: str, inputs: Iterable[Path] = ()) -> Path:
    """The file a tool will write, checked before any work: not a folder, not a symbolic link, not one of the
    tool's `inputs` (the checkpoint, an image), and its nearest existing folder is a writable folder (the
    missing ones are created at the end). Every tool's user-named output file comes through here."""
    path = Path(value).expanduser()
    if not value or path.is_dir():
        raise UsageError(f"{key}={value}: is a folder; give a file name, e.g. {key}={path / 'predictions.csv'}")
    try:
        refuse_links(path, path.parent)
    except OutputFolderError as err:
        raise UsageError(f"{key}={value}: {err}") from err
    if path.exists():
        real = os.path.realpath(path)
        if any(os.path.realpath(p) == real for p in inputs):
            raise UsageError(
                f"{key}={value} is one of the inputs (the ckpt= file or an image it reads); choose another {key}="
            )
    _writable_folder(key, value, path.parent)
    return path


def write_csv(path: Path, header: list[str], rows: Iterable[list | tuple]) -> None:
    """The tools' CSV: written atomically (a kill or a full disk keeps the previous file), never through a
    link, file names that are not valid UTF-8 kept as their bytes (surrogateescape), and text cells a
    spreadsheet would run as formulas (`=SUM(1+1)`, `-2+3`) quoted (spreadsheet.guard)."""
    with atomic_open(path, "w", inside=path.parent, newline="", encoding="utf-8", errors="surrogateescape") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(guard_row(list(row)) for row in rows)


def output_folder(key: str, value: Path) -> Path:
    """The folder a tool will write into, checked before any work the same way."""
    if value.exists() and not value.is_dir():
        raise UsageError(f"{key}={value}: is a file, not a folder; give a folder (it is created if absent)")
    _writable_folder(key, str(value), value)
    return value


def _writable_folder(key: str, value: str, folder: Path) -> None:
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{key}={value}: {existing} is a file, not a folder, so nothing can be written under it")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{key}={value}: the folder {existing} is not writable; choose another output path")


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


def positive_int(key: str, value: int) -> int:
    if value < 1:
        raise UsageError(f"{key}={value}: expected a positive integer")
    return value
