"""End of a multirun: the summary table and the sweep report, written into the sweep dir."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from tl_lightning import report
from tl_lightning.report.summary import write_summary

log = logging.getLogger(__name__)


class SweepSummary(Callback):
    """Hydra callback: writes summary.csv, summary.md and report.md into the sweep dir."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        for name, write in (("summary", write_summary), ("report", _write_report)):
            try:
                write(sweep_dir)
            except Exception:  # the runs are done and saved; a reporting bug must not fail the sweep
                log.exception("Sweep %s failed; rerun: python -m tl_lightning.report %s", name, sweep_dir)


def _write_report(sweep_dir: Path) -> None:
    print(f"Sweep report: {report.write_report(sweep_dir)}")
