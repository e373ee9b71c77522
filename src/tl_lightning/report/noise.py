"""Which differences between cells exceed the noise: the comparisons every answer cites."""

from __future__ import annotations

from tl_lightning.report.runs import Cell, Sweep
from tl_lightning.report.stats import Verdict, compare

KEY = "val_acc_last"  # comparisons use the last epoch: it was not selected on the val images


def verdict(a: Cell, b: Cell, key: str = KEY) -> Verdict:
    return compare(a.estimate(key), b.estimate(key))


def describe_diff(a: Cell, b: Cell, key: str = KEY) -> str:
    v = verdict(a, b, key)
    n = a.runs[0].val_size
    images = f" ≈ {abs(v.diff) * n:.1f} val images" if n else ""
    noise = "exceeds the noise" if v.exceeds_noise else "within the noise"
    return f"{a.cite(key)} vs {b.cite(key)}: Δ = {v.diff:+.3f}{images}, {noise} ({v.reason()})"


def noise_table(sweep: Sweep) -> list[str]:
    """Markdown rows for every same-arch and same-strategy pair of measured cells."""
    lines = ["| A | B | Δ (A−B) | A − B beyond noise? | why |", "|---|---|---|---|---|"]
    for a, b in _pairs(sweep):
        v = verdict(a, b)
        lines.append(
            f"| {a.cite()} | {b.cite()} | {v.diff:+.3f} | {'yes' if v.exceeds_noise else 'no'} | {v.reason()} |"
        )
    return lines if len(lines) > 2 else ["No pair of measured cells to compare."]


def _pairs(sweep: Sweep) -> list[tuple[Cell, Cell]]:
    pairs = []
    for arch in sweep.archs:
        cells = [c for s in sweep.strategies if (c := sweep.cell(arch, s))]
        pairs += [(a, b) for i, a in enumerate(cells) for b in cells[i + 1 :]]
    for strategy in sweep.strategies:
        cells = [c for a in sweep.archs if (c := sweep.cell(a, strategy))]
        pairs += [(a, b) for i, a in enumerate(cells) for b in cells[i + 1 :]]
    return pairs
