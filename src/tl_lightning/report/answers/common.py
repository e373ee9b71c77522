"""Numbers the answers share: parameters, wall time, train−val gaps, train size, majority baseline."""

from __future__ import annotations

from tl_lightning.report.runs import Cell, Sweep


def params(cell: Cell) -> int:
    return int(cell.values("trainable_params")[0])


def mean(cell: Cell, key: str) -> float:
    values = cell.values(key)
    return sum(values) / len(values) if values else float("nan")


def gap(cell: Cell) -> float:
    """Mean over seeds of last-epoch train accuracy minus last-epoch val accuracy."""
    gaps = [r.metrics["train_acc"][-1] - r.metrics["val_acc_last"] for r in cell.runs if r.metrics.get("train_acc")]
    return sum(gaps) / len(gaps) if gaps else float("nan")


def train_size(sweep: Sweep) -> int | None:
    for run in sweep.ok_runs:
        if run.metrics.get("train_class_counts"):
            return sum(run.metrics["train_class_counts"].values())
    return None


def majority_baseline(sweep: Sweep) -> tuple[str, int, int] | None:
    run = next((r for r in sweep.ok_runs if r.predictions), None)
    if run is None:
        return None
    counts: dict[str, int] = {}
    for row in run.predictions:
        counts[row["true"]] = counts.get(row["true"], 0) + 1
    label = max(counts, key=counts.__getitem__)
    return label, counts[label], len(run.predictions)
