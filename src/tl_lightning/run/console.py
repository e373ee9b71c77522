"""Quiet mode for a run: progress bars off, Lightning's info messages and advisory warnings hidden.

Scoped to the run (a context manager), so a later run in the same process with quiet=false prints again.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from lightning.pytorch.utilities.warnings import PossibleUserWarning

from tl_lightning import progress

_LIGHTNING_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric")


@contextmanager
def quiet_mode(quiet: bool) -> Iterator[None]:
    """Within the block: progress.is_quiet() == quiet and, when quiet, Lightning speaks only of problems."""
    was_quiet = progress.is_quiet()
    levels = {name: logging.getLogger(name).level for name in _LIGHTNING_LOGGERS}
    progress.set_quiet(quiet)
    try:
        with warnings.catch_warnings():
            if quiet:
                for name in _LIGHTNING_LOGGERS:
                    logging.getLogger(name).setLevel(logging.WARNING)
                # Advice about loader workers, logging intervals and the like; real problems raise or log errors.
                warnings.filterwarnings("ignore", category=PossibleUserWarning)
                warnings.filterwarnings("ignore", category=UserWarning, module=r"lightning\.")
            yield
    finally:
        progress.set_quiet(was_quiet)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
