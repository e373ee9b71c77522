"""summary.csv and summary.md: one row per finished run of a sweep dir."""

from __future__ import annotations

import csv
import json
from pathlib import Path

COLUMNS = ("run", "arch", "strategy", "val_acc_best", "best_epoch", "val_acc_last", "trainable_params", "wall_s")


def collect_runs(sweep_dir: Path) -> list[dict]:
    rows = []
    for path in sorted(Path(sweep_dir).glob("*/metrics.json")):
        metrics = json.loads(path.read_text())
        rows.append({"run": path.parent.name, **{k: metrics.get(k) for k in COLUMNS[1:]}})
    return rows


def write_summary(sweep_dir: Path | str) -> list[dict]:
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise FileNotFoundError(f"Sweep dir {sweep_dir} does not exist.")
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
