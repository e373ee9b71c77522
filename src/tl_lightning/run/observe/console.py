"""Quiet mode for a run: progress bars off, Lightning's info messages and advisory warnings hidden; and,
in every mode, none of Lightning's messages about what this package does on purpose.

Scoped to the run (a context manager), so a later run in the same process with quiet=false prints again.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import lightning as L
from lightning.pytorch.utilities.warnings import PossibleUserWarning

from tl_lightning import progress

_LIGHTNING_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric")
# Where Lightning's rank_zero_info messages (its litlogger advert among them) are logged.
_RANK_ZERO_LOGGER = "lightning.pytorch.utilities.rank_zero"


class _NoLitLoggerTip(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


class _NoCheckpointReload(logging.Filter):
    """Lightning's two lines about loading the best checkpoint for the final pass, which the run's own line
    replaces (a resumed fit still says where it restores from: the filter is on only during that pass)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not message.startswith(("Restoring states from the checkpoint", "Loaded model weights from"))


# Warnings about what this package does on purpose, matched by their text (and category) only:
# - frozen layers are put in eval mode (BatchNorm statistics and dropout stay fixed), which Lightning reports
#   as "Found N module(s) in eval mode at the start of training";
# - a login node of a SLURM cluster has `srun`; runs there are local unless hydra/launcher=slurm (which
#   starts them under srun and so never sees the warning);
# - every metric is logged per epoch, so Lightning's per-step logging interval does not apply.
_INTENDED = (
    r"Found \d+ module\(s\) in eval mode at the start of training",
    r"The `srun` command is available on your system but is not used",
    r"The number of training batches \(\d+\) is smaller than the logging interval",
)


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
    for message in _INTENDED:
        warnings.filterwarnings("ignore", message=message, category=PossibleUserWarning)


@contextmanager
def final_pass(trainer: L.Trainer) -> Iterator[None]:
    """The test pass after fit, without a "Testing" progress bar or Lightning's checkpoint-loading lines:
    the caller says in one line what the pass is."""
    logger = logging.getLogger(_RANK_ZERO_LOGGER)
    reload_filter = _NoCheckpointReload()
    logger.addFilter(reload_filter)
    bar = trainer.progress_bar_callback
    if bar is not None:
        bar.disable()
    try:
        yield
    finally:
        logger.removeFilter(reload_filter)


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
