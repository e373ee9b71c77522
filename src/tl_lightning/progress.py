"""Progress bars for long work (download, feature caching; Lightning draws training's) and a quiet mode.

`quiet=true` (or TL_QUIET=1 in the environment, e.g. for CI logs) turns every bar off, Lightning's
included, and silences Lightning's informational messages and advisory warnings; errors still show.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable, Iterator
from typing import TypeVar

from lightning.pytorch.utilities.warnings import PossibleUserWarning
from tqdm.auto import tqdm

T = TypeVar("T")
_state = {"quiet": os.environ.get("TL_QUIET", "").lower() in ("1", "true", "yes")}


def is_quiet() -> bool:
    return _state["quiet"]


def set_quiet(quiet: bool) -> None:
    _state["quiet"] = bool(quiet)
    if quiet:
        for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
            logging.getLogger(name).setLevel(logging.WARNING)
        # Advice about loader workers, logging intervals and the like; real problems raise or log errors.
        warnings.filterwarnings("ignore", category=PossibleUserWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"lightning\.")


def bar(iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """tqdm over `iterable`, or the bare iterable in quiet mode."""
    if is_quiet():
        return iter(iterable)
    return iter(tqdm(iterable, desc=desc, total=total, unit=unit, leave=False, dynamic_ncols=True))


def byte_bar(total: int | None, desc: str) -> tqdm:
    """A bytes bar to `.update(n)` by hand (downloads); disabled in quiet mode."""
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, disable=is_quiet())
