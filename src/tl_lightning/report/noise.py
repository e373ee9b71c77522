"""Which differences between cells exceed the noise: paired tests on the last epoch's per-image predictions.

The comparisons are fixed by the questions, not by what else is in the folder. Within each set of cells that
share every varied setting (a view): Q2 pairs `extractor` with `finetune` per arch, Q3 pairs `mixed` with
`extractor` and with `finetune` per arch, Q4 pairs archs with the same strategy; other strategy pairs form
their own family. Families are per question *and* the cell the question is about (FAMILIES): Q2, Q3 and the
other strategy pairs per arch, Q4 per strategy, a swept setting per arch and strategy, so a cell that does not
answer a comparison's question never changes its Holm-adjusted p. Every answer looks its verdict up here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from tl_lightning.report.distinct import copies
from tl_lightning.report.escape import code
from tl_lightning.report.families import family_name
from tl_lightning.report.groups import COUPLED, Cell, Sweep, followers
from tl_lightning.report.paired import ALPHA, holm, image_differences, sign_flip_p, which_test
from tl_lightning.report.power import Resolution, resolution

CV_SPLIT = {"fold", "split_seed"}  # which fold a cross-validation run validated on: not a method's setting
KEY = "val_acc_last"  # comparisons use the last epoch: it was not selected on the val images
# What changing one axis changes with it. Any other setting must be equal for a pair to be compared.
IMPLIED = {
    "arch": {"arch", "image_size", "head", "unfreeze", "input_cache", "steps_per_epoch", "weights", "weights_sha256"},
    "strategy": {"strategy", "unfreeze", "augmentation", "input_cache", "steps_per_epoch"},
}
RULE = (
    "Each pair differs in one axis (arch, or strategy) with every other setting equal, except what that axis "
    "sets itself: for arch the input size, head, default depth of `mixed`, input path and each arch's own "
    "weights file (the same kind of weights: ImageNet, random or file); for strategy the trained layers, the input "
    "path and the augmentation regime (a pair that crosses regimes says so). Pairs that also differ in another "
    "setting are listed and not tested."
)
SETTING_RULE = (
    "Pairs of one arch and strategy that differ in a single swept setting ({}) are tested the same way; every "
    "other setting is equal."
)


@dataclass(frozen=True)
class PairTest:
    a: Cell
    b: Cell
    diff: float  # mean last-epoch accuracy of A minus that of B
    test: str | None = None  # None: no test ran (why_not says why)
    p: float | None = None
    p_holm: float | None = None
    why_not: str | None = None
    axis: str = ""  # what the pair varies: arch, strategy or one swept setting
    family: str = ""  # the question (and view) whose comparisons are Holm-corrected together
    family_size: int = 0  # tested comparisons in the family
    resolution: Resolution | None = None
    tost_holm: float | None = None  # Holm-adjusted p of the equivalence test within the family
    margin: float = 0.0
    differences: np.ndarray | None = field(default=None, compare=False, repr=False)  # per image, A − B
    labels: tuple[str, ...] | None = field(default=None, compare=False, repr=False)  # true class per image

    @property
    def exceeds_noise(self) -> bool:
        return self.p_holm is not None and self.p_holm < ALPHA

    @property
    def reading(self) -> str:
        """A better, B better, equivalent (only through the equivalence test), inconclusive, or not tested."""
        if self.p_holm is None:
            return "not tested"
        if self.exceeds_noise:
            return "A better" if self.diff > 0 else "B better"
        if self.tost_holm is not None and self.tost_holm < ALPHA:
            return "equivalent"
        return "inconclusive"

    def flipped(self) -> PairTest:
        res = self.resolution
        if res is not None:
            res = replace(res, low=-res.high, high=-res.low)
        d = None if self.differences is None else -self.differences
        return replace(self, a=self.b, b=self.a, diff=-self.diff, resolution=res, differences=d)


def verdict(sweep: Sweep, a: Cell, b: Cell) -> PairTest:
    tests = family(sweep)
    if (id(a), id(b)) in tests:
        return tests[(id(a), id(b))]
    if (id(b), id(a)) in tests:
        return tests[(id(b), id(a))].flipped()
    return PairTest(a, b, _diff(a, b), why_not="not one of the report's comparisons (they differ in two axes)")


def family(sweep: Sweep) -> dict[tuple[int, int], PairTest]:
    """Every comparison of the report, tested once, Holm-corrected within its family (cached on the root)."""
    root = sweep.root
    if root.tests is None:
        pairs = [p for view in root.views() for p in _pairs(view)] + _setting_pairs(root)
        tests = [_test(a, b, axis, name) for a, b, axis, name in pairs]
        root.tests = {}
        for name in dict.fromkeys(t.family for t in tests):
            members = [t for t in tests if t.family == name]
            for t in _correct(members, root.margin):
                root.tests[(id(t.a), id(t.b))] = t  # by identity: labels of long settings may clash
    return root.tests


def _correct(members: list[PairTest], margin: float) -> list[PairTest]:
    """Holm within one family, for the difference tests and (separately) for the equivalence tests."""
    ran = [t for t in members if t.p is not None]
    res = {id(t): resolution(t.differences, margin, len(ran)) for t in ran}
    p_holm = dict(zip(map(id, ran), holm([t.p for t in ran]), strict=True))
    tost = dict(zip(map(id, ran), holm([res[id(t)].tost_p for t in ran]), strict=True))
    return [
        replace(
            t, p_holm=p_holm[id(t)], resolution=res[id(t)], tost_holm=tost[id(t)], family_size=len(ran), margin=margin
        )
        if id(t) in res
        else replace(t, family_size=len(ran), margin=margin)
        for t in members
    ]


def _family_name(a: Cell, b: Cell, axis: str, view: str) -> str:
    return family_name(axis, a.arch, {a.strategy, b.strategy}, view)


def _pairs(view: Sweep) -> list[tuple[Cell, Cell, str, str]]:
    pairs = []
    for arch in view.archs:
        cells = [c for s in view.strategies if (c := view.cell(arch, s))]
        pairs += [_oriented(a, b, "strategy") for i, a in enumerate(cells) for b in cells[i + 1 :]]
    for strategy in view.strategies:
        cells = [c for a in view.archs if (c := view.cell(a, strategy))]
        pairs += [(a, b, "arch") for i, a in enumerate(cells) for b in cells[i + 1 :]]
    return [(a, b, axis, _family_name(a, b, axis, view.name)) for a, b, axis in pairs]


def _oriented(a: Cell, b: Cell, axis: str) -> tuple[Cell, Cell, str]:
    """Q3 asks what unfreezing does, so its pairs read `mixed` − the other strategy."""
    return (b, a, axis) if b.strategy == "mixed" and a.strategy != "mixed" else (a, b, axis)


def _setting_pairs(sweep: Sweep) -> list[tuple[Cell, Cell, str, str]]:
    """Cells of one arch/strategy whose varied settings differ in exactly one (counting COUPLED ones with it)."""
    pairs = []
    for i, a in enumerate(sweep.cells):
        for b in sweep.cells[i + 1 :]:
            differ = {k for k in sweep.varying if a.variant.get(k) != b.variant.get(k)}
            differ -= followers(differ)
            if (a.arch, a.strategy) == (b.arch, b.strategy) and len(differ) == 1 and not differ & CV_SPLIT:
                axis = differ.pop()
                pairs.append((a, b, axis, _family_name(a, b, axis, "")))
    return pairs


def _diff(a: Cell, b: Cell) -> float:
    return a.estimate(KEY).mean - b.estimate(KEY).mean


def _test(a: Cell, b: Cell, axis: str, name: str) -> PairTest:
    base = PairTest(a, b, _diff(a, b), axis=axis, family=name)
    other = _conflicts(a, b, axis)
    if other:
        return replace(base, why_not=f"they also differ in {', '.join(other)}")
    rows_a, rows_b = _correctness(a), _correctness(b)
    for rows in (rows_a, rows_b):
        if isinstance(rows, str):
            return replace(base, why_not=f"the paired test cannot run: {rows}")
    if sorted(rows_a[0]) != sorted(rows_b[0]):
        return replace(base, why_not="the paired test cannot run: the cells were scored on different val images")
    found = copies(rows_a[0], a.runs[0].data_root)
    paths = [p for p in rows_a[0] if found is None or found[p] == p]  # each distinct image once
    order_a, order_b = ({p: i for i, p in enumerate(rows[0])} for rows in (rows_a, rows_b))
    runs_a = [[c[order_a[p]] for p in paths] for _, c in rows_a[1]]
    runs_b = [[c[order_b[p]] for p in paths] for _, c in rows_b[1]]
    scaled, scale = image_differences(runs_a, runs_b)
    truth = {r["path"]: r["true"] for r in a.runs[0].predictions_last or ()}
    labels = tuple(truth[p] for p in paths)
    return replace(base, test=which_test(scaled), p=sign_flip_p(scaled), differences=scaled / scale, labels=labels)


def _conflicts(a: Cell, b: Cell, axis: str) -> list[str]:
    keys = set(a.settings) | set(b.settings)
    implied = IMPLIED.get(axis, {axis} | COUPLED.get(axis, set()))
    differ = sorted(k for k in keys if a.settings.get(k) != b.settings.get(k) and k not in implied)
    if axis == "arch" and _weights_kind(a) != _weights_kind(b):
        differ.append(f"weights ({a.weights} vs {b.weights})")
    return differ


def _weights_kind(cell: Cell) -> str:
    return cell.weights if cell.weights in ("imagenet", "none", None) else "file"


def _correctness(cell: Cell) -> tuple[list[str], list[tuple[int | None, list[bool]]]] | str:
    """(image paths, per run (seed, correct per image)) from val_predictions_last.csv, or why it cannot be used."""
    paths: list[str] | None = None
    runs = []
    for run in cell.runs:
        rows = run.predictions_last
        if rows is None:
            return f"{code(run.name)} has no val_predictions_last.csv (the last epoch's per-image predictions)"
        correct = {r["path"]: r["true"] == r["pred"] for r in rows}
        if len(correct) != len(rows):
            return f"{code(run.name)}'s val_predictions_last.csv lists an image twice"
        accuracy = sum(correct.values()) / len(correct)
        if abs(accuracy - run.metrics[KEY]) > 0.5 / len(correct):
            name, saved = code(run.name), run.metrics[KEY]
            return f"{name}'s val_predictions_last.csv gives {accuracy:.3f}, its {KEY} is {saved:.3f}"
        paths = paths or list(correct)
        if set(correct) != set(paths):
            return f"the runs of {cell.label} were scored on different val images"
        runs.append((run.seed, [correct[p] for p in paths]))
    return paths or [], runs
