"""Progress bars for long work (download, weights, feature caching) and the quiet flag that hides them.

`quiet=true` (or TL_QUIET=1 in the environment, e.g. for CI logs) turns every bar off. Bars never touch
a random number generator, so they cannot change any result.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
_state = {"quiet": os.environ.get("TL_QUIET", "").lower() in ("1", "true", "yes")}


def is_quiet() -> bool:
    return _state["quiet"]


def set_quiet(quiet: bool) -> None:
    _state["quiet"] = bool(quiet)


def bar(
    iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "it", leave: bool = False
) -> Iterator[T]:
    """tqdm over `iterable`, or the bare iterable in quiet mode. `leave=True` keeps the finished bar as a
    line that says how long the work took."""
    if is_quiet():
        return iter(iterable)
    return iter(tqdm(iterable, desc=desc, total=total, unit=unit, leave=leave, dynamic_ncols=True))


def byte_bar(total: int | None, desc: str) -> tqdm:
    """A bytes bar to `.update(n)` by hand (downloads); disabled in quiet mode."""
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, disable=is_quiet())
