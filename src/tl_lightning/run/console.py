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
# Where Lightning's rank_zero_info messages (its litlogger advert among them) are logged.
_RANK_ZERO_LOGGER = "lightning.pytorch.utilities.rank_zero"


class _NoLitLoggerTip(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


def silence_known_noise() -> None:
    """Two messages on every run that no user of this package can act on, silenced where they arise:
    Lightning's advert for its cloud logger (a filter on the one logger that emits it), and a FutureWarning
    torch raises for Lightning's own _pytree helper (a warnings filter on that module only)."""
    logger = logging.getLogger(_RANK_ZERO_LOGGER)
    if not any(isinstance(f, _NoLitLoggerTip) for f in logger.filters):
        logger.addFilter(_NoLitLoggerTip())
    warnings.filterwarnings(
        "ignore",
        message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
        category=FutureWarning,
        module=r"lightning\.pytorch\.utilities\._pytree",
    )


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
