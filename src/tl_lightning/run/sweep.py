"""Start and end of a multirun: shared inputs obtained once before the jobs; after them the summary table,
the sweep report and the list of failed runs, written into the sweep dir whatever happened to the jobs.

A failed job leaves failure.txt (one line: why) in its run folder and returns NaN (run/folder/failures.py), so
Hydra's launcher goes on with the next job and this callback's end hook always runs. The sweep then exits
with status 1 when any job failed.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from tl_lightning import report
from tl_lightning.errors import UserError
from tl_lightning.report.summary import write_summary
from tl_lightning.run.folder.failures import BAD_INPUT_EXIT, job_outcomes, read_failure
from tl_lightning.run.inputs.prepare import prepare_sweep
from tl_lightning.run.observe.sweep_progress import finished_jobs, progress_line, sweep_size

log = logging.getLogger(__name__)
FAILED_SWEEP_EXIT = 1


class SweepSummary(Callback):
    """Hydra callback (conf/hydra/default.yaml): prepare inputs at the start, `job k of N` with the time left
    before each job, report at the end."""

    def __init__(self) -> None:
        self.total: int | None = None
        self.started = time.time()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # Hydra turns a callback's exception into a warning and goes on, so stop here, before Hydra has
        # created the sweep dir: one message, exit status 2.
        try:
            prepare_sweep(config)
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(BAD_INPUT_EXIT) from None
        # Set before the launcher copies this callback into its workers, so they share the start and the size.
        self.total, self.started = sweep_size(config), time.time()

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        job = config.hydra.job
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        done = finished_jobs(Path(config.hydra.sweep.dir))
        log.info(progress_line(int(job.num) + 1, self.total, job.override_dirname, done, time.time() - self.started))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        for name, write in (("summary", write_summary), ("report", _write_report)):
            try:
                write(sweep_dir)
            except Exception:  # the runs are done and saved; a reporting bug must not hide the failures below
                log.exception("Sweep %s failed; rerun: python -m tl_lightning.report %s", name, sweep_dir)
        # The jobs this process ran, when it ran them (another sweep may share the folder); else the folder's.
        own = job_outcomes(sweep_dir)
        failed = sorted((n, r) for n, r in own.items() if r is not None) if own else failed_runs(sweep_dir)
        if failed:
            runs = len(own) if own else sum(1 for p in sweep_dir.iterdir() if p.is_dir() and (p / ".hydra").is_dir())
            lines = [f"  {name}: {reason}" for name, reason in failed]
            print(f"{len(failed)} of {runs} runs failed:\n" + "\n".join(lines), file=sys.stderr)
            raise SystemExit(FAILED_SWEEP_EXIT)


def failed_runs(sweep_dir: Path) -> list[tuple[str, str]]:
    """(run folder name, one-line reason) for every run of the sweep that left failure.txt."""
    found = ((p.name, read_failure(p)) for p in sorted(sweep_dir.iterdir()) if p.is_dir())
    return [(name, reason) for name, reason in found if reason is not None]


def _write_report(sweep_dir: Path) -> None:
    print(f"Sweep report: {report.write_report(sweep_dir)}")
