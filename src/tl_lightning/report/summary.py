"""summary.csv and summary.md: one row per run of a sweep dir, failed ones included, with what tells runs apart."""

from __future__ import annotations

import csv
from pathlib import Path

from tl_lightning.files import atomic_open
from tl_lightning.report.escape import md
from tl_lightning.report.groups import format_setting, load_sweep
from tl_lightning.report.runs import Run
from tl_lightning.report.write import check_outputs
from tl_lightning.spreadsheet import guard

HEAD = ("run", "status", "arch", "strategy", "seed", "weights", "augmentation")
RESULTS = ("val_acc_best", "best_epoch", "val_acc_last", "trainable_params", "wall_s")
SHOWN_ELSEWHERE = {"arch", "strategy", "weights", "weights_sha256", "augmentation"}  # the weights column has the hash


def write_summary(sweep_dir: Path | str) -> list[dict]:
    sweep = load_sweep(Path(sweep_dir))
    check_outputs(sweep.path)
    varying = [k for k in sweep.varying if k not in SHOWN_ELSEWHERE]
    tagged = ("tags",) if any((run.metrics or {}).get("tags") for run in sweep.runs) else ()  # tags=[...]
    columns = (*HEAD, *tagged, *varying, *RESULTS)
    rows = [_row(run, varying) for run in sweep.runs]
    # Cells a spreadsheet would run as formulas (a setting `=HYPERLINK(...)`) start with a quote (spreadsheet.py).
    with atomic_open(sweep.path / "summary.csv", "w", inside=sweep.path, newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([guard(c) for c in columns])
        writer.writerows([guard(row.get(c, "")) for c in columns] for row in rows)
    lines = ["| " + " | ".join(map(md, columns)) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(row[c]) for c in columns) + " |" for row in rows]
    with atomic_open(sweep.path / "summary.md", "w", inside=sweep.path, encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print(f"Sweep summary ({len(rows)} runs, {len(sweep.problems)} failed): {sweep.path / 'summary.md'}")
    return rows


def _row(run: Run, varying: list[str]) -> dict:
    metrics = run.metrics or {}
    row = {
        "run": run.name,
        "status": "ok" if run.ok else _status(run.problem),
        "arch": run.arch,
        "strategy": run.strategy,
        "seed": run.seed,
        "weights": run.weights_text() if run.ok or run.weights else None,
        "augmentation": run.regime,
        "tags": ",".join(metrics.get("tags") or []),
    }
    row.update({k: format_setting(k, run.settings.get(k)) if run.ok else None for k in varying})
    row.update({k: metrics.get(k) for k in RESULTS})
    return row


def _status(problem: str) -> str:
    return problem if problem.startswith("failed: ") else f"failed: {problem}"


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else md(value)
