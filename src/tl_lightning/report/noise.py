"""Which differences between cells exceed the noise: paired tests on the last epoch's per-image predictions.

The family of comparisons is fixed before any answer is written: within each set of cells that share every
varied setting, every pair of cells with the same arch or the same strategy; and every pair of cells of one
arch and strategy that differ in a single varied setting (e.g. the augmentation regime). All of them are tested,
Holm-corrected together, and every answer looks its verdict up here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tl_lightning.report.escape import code
from tl_lightning.report.groups import COUPLED, Cell, Sweep, followers
from tl_lightning.report.paired import ALPHA, BOOTSTRAP, MCNEMAR, holm, mcnemar_exact, paired_bootstrap

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

    @property
    def exceeds_noise(self) -> bool:
        return self.p_holm is not None and self.p_holm < ALPHA

    @property
    def verdict(self) -> str:
        if self.p_holm is None:
            return "not tested"
        return "beyond noise" if self.exceeds_noise else "within noise"

    def flipped(self) -> PairTest:
        return replace(self, a=self.b, b=self.a, diff=-self.diff)


def verdict(sweep: Sweep, a: Cell, b: Cell) -> PairTest:
    tests = family(sweep)
    if (id(a), id(b)) in tests:
        return tests[(id(a), id(b))]
    if (id(b), id(a)) in tests:
        return tests[(id(b), id(a))].flipped()
    return PairTest(a, b, _diff(a, b), why_not="not one of the report's comparisons (they differ in two axes)")


def family(sweep: Sweep) -> dict[tuple[int, int], PairTest]:
    """Every comparison of the report, tested once and Holm-corrected together (cached on the root sweep)."""
    root = sweep.root
    if root.tests is None:
        pairs = [p for view in root.views() for p in _pairs(view)] + _setting_pairs(root)
        tests = [_test(a, b, axis) for a, b, axis in pairs]
        ran = [t for t in tests if t.p is not None]
        adjusted = dict(zip((id(t) for t in ran), holm([t.p for t in ran]), strict=True))
        tests = [replace(t, p_holm=adjusted[id(t)]) if id(t) in adjusted else t for t in tests]
        root.tests = {(id(t.a), id(t.b)): t for t in tests}  # by identity: labels of long settings may clash
    return root.tests


def describe_diff(sweep: Sweep, a: Cell, b: Cell) -> str:
    v = verdict(sweep, a, b)
    n = a.runs[0].val_size
    images = f" ≈ {abs(v.diff) * n:.1f} val images" if n else ""
    text = f"{a.cite(KEY)} vs {b.cite(KEY)}: Δ = {v.diff:+.3f}{images}, "
    if v.test:
        text += f"{v.verdict} ({v.test}, p = {fmt_p(v.p)}, Holm-adjusted p = {fmt_p(v.p_holm)})"
    else:
        text += f"not tested: {v.why_not}"
    note = regime_note(a, b)
    return text + (f"; {note}" if note else "")


def regime_note(a: Cell, b: Cell) -> str:
    if a.regime == b.regime:
        return ""
    return f"the pair crosses augmentation regimes ({a.label}: {a.regime or 'unrecorded'}, {b.label}: " + (
        f"{b.regime or 'unrecorded'})"
    )


def noise_table(sweep: Sweep) -> list[str]:
    """Markdown rows: every comparison with Δ, the test, raw and Holm-adjusted p and the verdict."""
    tests = family(sweep)
    if not tests:
        return ["No pair of measured cells to compare."]
    coupled = followers(sweep.root.varying)
    swept = ", ".join(code(k) for k in sweep.root.varying if k not in coupled)
    lines = [
        RULE + (" " + SETTING_RULE.format(swept) if swept else ""),
        "",
        f"| A | B | Δ (A−B) | test | p | Holm p | A − B beyond noise at α = {ALPHA}? | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for t in tests.values():
        answer = {"beyond noise": "yes", "within noise": "no"}.get(t.verdict, "not tested")
        cells = [t.a.cite(KEY), t.b.cite(KEY), f"{t.diff:+.3f}", t.test or "—", fmt_p(t.p), fmt_p(t.p_holm)]
        crossing = regime_note(t.a, t.b) if t.axis != "augmentation" else ""  # else the regime is the comparison
        note = "; ".join(x for x in (t.why_not, crossing) if x)
        lines.append("| " + " | ".join([*cells, answer, note]) + " |")
    return lines


def fmt_p(p: float | None) -> str:
    return "—" if p is None else f"{p:.3g}"


def _pairs(view: Sweep) -> list[tuple[Cell, Cell, str]]:
    pairs = []
    for arch in view.archs:
        cells = [c for s in view.strategies if (c := view.cell(arch, s))]
        pairs += [(a, b, "strategy") for i, a in enumerate(cells) for b in cells[i + 1 :]]
    for strategy in view.strategies:
        cells = [c for a in view.archs if (c := view.cell(a, strategy))]
        pairs += [(a, b, "arch") for i, a in enumerate(cells) for b in cells[i + 1 :]]
    return pairs


def _setting_pairs(sweep: Sweep) -> list[tuple[Cell, Cell, str]]:
    """Cells of one arch/strategy whose varied settings differ in exactly one (counting COUPLED ones with it)."""
    pairs = []
    for i, a in enumerate(sweep.cells):
        for b in sweep.cells[i + 1 :]:
            differ = {k for k in sweep.varying if a.variant.get(k) != b.variant.get(k)}
            differ -= followers(differ)
            if (a.arch, a.strategy) == (b.arch, b.strategy) and len(differ) == 1:
                pairs.append((a, b, differ.pop()))
    return pairs


def _diff(a: Cell, b: Cell) -> float:
    return a.estimate(KEY).mean - b.estimate(KEY).mean


def _test(a: Cell, b: Cell, axis: str) -> PairTest:
    base = PairTest(a, b, _diff(a, b), axis=axis)
    other = _conflicts(a, b, axis)
    if other:
        return replace(base, why_not=f"they also differ in {', '.join(other)}")
    rows_a, rows_b = _correctness(a), _correctness(b)
    for rows in (rows_a, rows_b):
        if isinstance(rows, str):
            return replace(base, why_not=f"the paired test cannot run: {rows}")
    if sorted(rows_a[0]) != sorted(rows_b[0]):
        return replace(base, why_not="the paired test cannot run: the cells were scored on different val images")
    order = {p: i for i, p in enumerate(rows_b[0])}
    aligned_b = [(s, [c[order[p]] for p in rows_a[0]]) for s, c in rows_b[1]]
    if len(rows_a[1]) == len(aligned_b) == 1:
        pairs = list(zip(rows_a[1][0][1], aligned_b[0][1], strict=True))
        p = mcnemar_exact(sum(i and not j for i, j in pairs), sum(j and not i for i, j in pairs))
        return replace(base, test=MCNEMAR, p=p)
    return replace(base, test=BOOTSTRAP, p=paired_bootstrap(rows_a[1], aligned_b))


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
