"""End of a multirun: one summary table over every run's metrics.json, and the sweep report."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)
COLUMNS = ("run", "arch", "strategy", "val_acc_best", "best_epoch", "val_acc_last", "trainable_params", "wall_s")


class SweepSummary(Callback):
    """Hydra callback: writes summary.csv, summary.md and report.md into the sweep dir."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        for name in ("summary", "report"):
            try:
                _write(name, sweep_dir)
            except Exception:  # the runs are done and saved; a reporting bug must not fail the sweep
                log.exception("Sweep %s failed; rerun: python -m tl_lightning.report %s", name, sweep_dir)


def _write(name: str, sweep_dir: Path) -> None:
    if name == "summary":
        write_summary(sweep_dir)
        return
    from tl_lightning.report import write_report  # imported here so even an import error stays contained

    print(f"Sweep report: {write_report(sweep_dir)}")


def collect_runs(sweep_dir: Path) -> list[dict]:
    rows = []
    for path in sorted(Path(sweep_dir).glob("*/metrics.json")):
        metrics = json.loads(path.read_text())
        rows.append({"run": path.parent.name, **{k: metrics.get(k) for k in COLUMNS[1:]}})
    return rows


def write_summary(sweep_dir: Path) -> list[dict]:
    rows = collect_runs(sweep_dir)
    with open(sweep_dir / "summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_fmt(row[c]) for c in COLUMNS) + " |" for row in rows]
    (sweep_dir / "summary.md").write_text("\n".join(lines) + "\n")
    print(f"Sweep summary ({len(rows)} runs): {sweep_dir / 'summary.md'}")
    return rows


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)
