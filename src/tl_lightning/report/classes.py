"""Recall per class: per cell (the results table) and per comparison (the paired test on each class's images).

Two cells with the same accuracy can make different errors (one misses `tumour`, the other `no tumour`); the
overall test cannot see that, so every comparison is also tested class by class, Holm-corrected over the classes.
"""

from __future__ import annotations

import math

import numpy as np

from tl_lightning.report.escape import md
from tl_lightning.report.groups import Cell
from tl_lightning.report.noise import PairTest
from tl_lightning.report.paired import ALPHA, holm, sign_flip_p, which_test


def recall(cell: Cell) -> dict[str, float] | None:
    """Per class, the mean over the cell's runs of the last epoch's recall; None when a run lacks the CSV."""
    if not cell.runs or any(r.predictions_last is None for r in cell.runs):
        return None
    per_run = []
    for run in cell.runs:
        hits: dict[str, list[bool]] = {}
        for row in run.predictions_last or ():
            hits.setdefault(row["true"], []).append(row["true"] == row["pred"])
        per_run.append({c: sum(h) / len(h) for c, h in hits.items()})
    classes = sorted({c for r in per_run for c in r})
    return {c: sum(r.get(c, math.nan) for r in per_run) / len(per_run) for c in classes}


def recall_text(cell: Cell) -> str:
    found = recall(cell)
    return ", ".join(f"{md(c)} {v:.3f}" for c, v in found.items()) if found else "—"


def class_tests(t: PairTest) -> list[tuple[str, int, str, float, float]]:
    """Per class: (class, images, test, p, Holm-adjusted p over the classes) of the paired test on its images."""
    if t.differences is None or t.labels is None:
        return []
    scale = math.lcm(len(t.a.runs), len(t.b.runs))
    scaled = np.rint(t.differences * scale).astype(np.int64)
    labels = np.asarray(t.labels)
    found = [(c, scaled[labels == c]) for c in sorted(set(t.labels))]
    if len(found) < 2:
        return []
    pvalues = [sign_flip_p(d) for _, d in found]
    return [(c, d.size, which_test(d), p, q) for (c, d), p, q in zip(found, pvalues, holm(pvalues), strict=True)]


def class_sentence(t: PairTest) -> str:
    """'; per class …' where some class's recall differs beyond noise (Holm over the classes); else ''."""
    tests = class_tests(t)
    if not any(q < ALPHA for *_, q in tests):
        return ""
    ra, rb = recall(t.a) or {}, recall(t.b) or {}
    parts = [
        f"{md(c)} recall {ra.get(c, math.nan):.3f} vs {rb.get(c, math.nan):.3f} ({n} images, {test} p = {p:.3g}, "
        f"Holm-adjusted over the {len(tests)} classes p = {q:.3g})"
        for c, n, test, p, q in tests
    ]
    return f"; per class the errors differ beyond noise: {'; '.join(parts)}"
