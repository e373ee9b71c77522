"""The cross-validated comparison: runs with data.folds pooled out of fold, methods compared across training sets.

A method is every setting a run records except the seed, the fold, the split seed and the steps per epoch
(which follow the fold's size). Per repeat (split_seed) its folds' out-of-fold predictions (the last epoch's,
like the rest of the report) are pooled, so every labelled image is judged once per repeat; two methods are
compared on the per-fold accuracy differences of the repeats both completed (cvtests.py).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace

from tl_lightning.report.cvtests import ALPHA, CvTest, compare
from tl_lightning.report.escape import code, md
from tl_lightning.report.groups import ARCH_ORDER, STRATEGY_ORDER, Sweep, format_setting
from tl_lightning.report.paired import holm
from tl_lightning.report.runs import Run

SPLIT = ("fold", "split_seed")
SPLIT_KEYS = {*SPLIT, "steps_per_epoch"}
# What changing one axis changes with it; every other setting must be equal for two methods to be compared.
IMPLIED = {
    "arch": {"arch", "image_size", "head", "unfreeze", "input_cache", "weights", "weights_sha256"},
    "strategy": {"strategy", "unfreeze", "augmentation", "input_cache"},
}
FAMILIES = {"strategy": "strategies of one arch", "arch": "archs under one strategy"}

Folds = dict[int, dict[str, float]]  # fold -> image -> share of the method's runs that classified it right


@dataclass
class Method:
    settings: dict  # without seed, fold, split_seed, steps_per_epoch
    runs: list[Run] = field(default_factory=list)
    repeats: dict[int, Folds] = field(default_factory=dict)  # split_seed -> its complete folds
    problems: list[str] = field(default_factory=list)
    extra: str = ""  # the settings that tell it from other methods of its arch and strategy

    @property
    def label(self) -> str:
        return f"{self.settings['arch']}/{self.settings['strategy']}" + (f" ({self.extra})" if self.extra else "")

    @property
    def folds(self) -> int:
        return int(self.settings["folds"])

    def accuracy(self, seed: int) -> float:
        """Out-of-fold accuracy of one repeat: every image judged once."""
        scores = [c for fold in self.repeats[seed].values() for c in fold.values()]
        return sum(scores) / len(scores)


@dataclass(frozen=True)
class CvComparison:
    a: Method
    b: Method
    axis: str
    diffs: list[list[float]]  # per repeat, per fold: accuracy(A) − accuracy(B)
    seeds: list[int]
    result: CvTest
    p_holm: float = 1.0

    def reading(self) -> str:
        if self.p_holm < ALPHA:
            return f"{self.a.label if self.result.delta > 0 else self.b.label} better"
        low, high = 100 * self.result.low, 100 * self.result.high
        return f"inconclusive: differences from {low:+.1f} to {high:+.1f} points (A − B) are compatible with the data"


def cv_methods(sweep: Sweep) -> list[Method]:
    """The methods of the sweep's runs that record data.folds, each with its complete repeats."""
    methods: dict[tuple, Method] = {}
    for run in sweep.ok_runs:
        if run.settings.get("folds") is None or not all(_is_int(run.settings.get(k)) for k in ("folds", *SPLIT)):
            continue  # not a cross-validation run (hand-edited split settings would place it nowhere)
        key = {k: v for k, v in run.settings.items() if k not in SPLIT_KEYS}
        methods.setdefault(tuple(sorted(key.items(), key=str)), Method(key)).runs.append(run)
    for method in methods.values():
        _collect(method)
        same = [m for m in methods.values() if (m.settings["arch"], m.settings["strategy"]) == _pair(method)]
        varied = sorted({k for m in same for k in m.settings if m.settings.get(k) != method.settings.get(k)})
        method.extra = ", ".join(f"{md(k)}={md(format_setting(k, method.settings.get(k)))}" for k in varied)
    return sorted(methods.values(), key=_order)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _pair(method: Method) -> tuple[str, str]:
    return method.settings["arch"], method.settings["strategy"]


def _order(method: Method) -> tuple:
    arch, strategy = method.settings["arch"], method.settings["strategy"]
    rank = (ARCH_ORDER.index(arch) if arch in ARCH_ORDER else len(ARCH_ORDER), arch)
    return (*rank, STRATEGY_ORDER.index(strategy) if strategy in STRATEGY_ORDER else 9, strategy, str(method.settings))


def _collect(method: Method) -> None:
    """Per (split_seed, fold) the mean correctness over seeds; repeats missing a fold are dropped and said."""
    scores: dict[tuple[int, int], dict[str, list[bool]]] = {}
    for run in method.runs:
        rows = run.predictions_last
        if rows is None:
            method.problems.append(f"{code(run.name)} has no val_predictions_last.csv")
            continue
        where = (run.settings["split_seed"], run.settings["fold"])
        for row in rows:
            scores.setdefault(where, {}).setdefault(row.get("image") or row["path"], []).append(
                row["true"] == row["pred"]
            )
    for seed in sorted({s for s, _ in scores}):
        folds = {f: {i: sum(c) / len(c) for i, c in scores[(seed, f)].items()} for s, f in scores if s == seed}
        missing = sorted(set(range(method.folds)) - set(folds))
        images = [i for fold in folds.values() for i in fold]
        if missing:
            method.problems.append(f"split_seed={seed} lacks fold(s) {', '.join(map(str, missing))}")
        elif len(images) != len(set(images)):
            method.problems.append(f"split_seed={seed}: an image is in two folds (the runs used different data)")
        else:
            method.repeats[seed] = dict(sorted(folds.items()))


def comparisons(methods: list[Method]) -> list[CvComparison]:
    """Every pair of methods differing in arch or in strategy only, tested; Holm within each axis's family."""
    found = []
    for i, a in enumerate(methods):
        for b in methods[i + 1 :]:
            axis = _axis(a, b)
            if axis and (tested := _compare(a, b, axis)) is not None:
                found.append(tested)
    adjusted = {}
    for axis in FAMILIES:
        family = [c for c in found if c.axis == axis]
        adjusted |= {id(c): p for c, p in zip(family, holm([c.result.p for c in family]), strict=True)}
    return [replace(c, p_holm=adjusted[id(c)]) for c in found]


def _axis(a: Method, b: Method) -> str | None:
    keys = set(a.settings) | set(b.settings)
    differ = {k for k in keys if a.settings.get(k) != b.settings.get(k)}
    for axis, implied in IMPLIED.items():
        if axis in differ and differ <= implied and (axis != "arch" or _weights_kind(a) == _weights_kind(b)):
            return axis
    return None


def _weights_kind(method: Method) -> str:
    weights = method.settings.get("weights")
    return weights if weights in ("imagenet", "none", None) else "file"


def _compare(a: Method, b: Method, axis: str) -> CvComparison | None:
    seeds = [s for s in a.repeats if s in b.repeats and _same_split(a.repeats[s], b.repeats[s])]
    if not seeds or len(seeds) * a.folds < 2:
        return None
    diffs = [[_acc(a.repeats[s][f]) - _acc(b.repeats[s][f]) for f in a.repeats[s]] for s in seeds]
    delta = statistics.fmean(a.accuracy(s) - b.accuracy(s) for s in seeds)
    sizes = [len(fold) for s in seeds for fold in a.repeats[s].values()]
    total = sum(sizes) / len(seeds)
    ratio = statistics.fmean(n / (total - n) for n in sizes)
    return CvComparison(a, b, axis, diffs, seeds, compare(diffs, delta, ratio))


def _same_split(x: Folds, y: Folds) -> bool:
    return x.keys() == y.keys() and all(x[f].keys() == y[f].keys() for f in x)


def _acc(fold: dict[str, float]) -> float:
    return sum(fold.values()) / len(fold)


def cv_section(sweep: Sweep) -> list[str]:
    """report.md's cross-validation section; [] when no run records data.folds."""
    methods = cv_methods(sweep)
    if not methods:
        return []
    lines = ["## Cross-validation: methods compared across training sets", "", *_design(methods), ""]
    lines += _accuracy_table(methods)
    tested = comparisons(methods)
    lines += _comparison_table(tested) if tested else ["No two methods with common complete repeats to compare.", ""]
    problems = [f"- {m.label}: {p}" for m in methods for p in m.problems]
    return lines + (["Left out of the pooled results:", "", *problems, ""] if problems else [])


def _design(methods: list[Method]) -> list[str]:
    folds = sorted({m.folds for m in methods})
    repeats = sorted({s for m in methods for s in m.repeats})
    images = sorted({sum(len(f) for f in m.repeats[s].values()) for m in methods for s in m.repeats})
    pooled = f"{', '.join(map(str, images))} labelled images" if images else "no repeat has all its folds yet"
    return [
        f"{sum(len(m.runs) for m in methods)} runs record `data.folds` ({', '.join(map(str, folds))}): train/ and "
        f"val/ were pooled ({pooled}) and split into stratified folds, byte-identical files always in one fold, "
        f"once per `data.split_seed` (complete repeats: {', '.join(map(str, repeats)) or 'none'}). Each run "
        "trained on the other folds and was scored on its own fold at the last epoch; pooling a repeat's folds "
        "judges every image once. The sections above treat each (fold, split_seed) as its own cell, judged on that "
        "fold's images only; this section pools them.",
        "",
        "Two methods are compared on their per-fold accuracy differences, which vary with the training set as well "
        "as with the images: with 5 repeats of 2 folds by Alpaydin's combined 5x2cv F test (Dietterich's 5x2cv "
        "paired t beside it), otherwise by Nadeau and Bengio's corrected resampled t test. Δ is the mean over "
        "repeats of the pooled out-of-fold accuracy difference; its 95 % interval uses the test's variance "
        "estimate. Holm's correction runs within each family (strategies of one arch; archs under one strategy); a "
        f"method is called better when the Holm-adjusted p is below α = {ALPHA}, and otherwise the interval says "
        "which differences the data cannot rule out. `detectable` is the difference the design finds with 80 % "
        "power (t approximation).",
    ]


def _accuracy_table(methods: list[Method]) -> list[str]:
    lines = [
        "| method | seeds | repeats (split_seed) | out-of-fold accuracy per repeat | mean ± std over repeats |",
        "|---|---|---|---|---|",
    ]
    for m in methods:
        accs = [m.accuracy(s) for s in m.repeats]
        seeds = ", ".join(map(str, sorted({r.seed for r in m.runs if r.seed is not None})))
        spread = f"{statistics.fmean(accs):.3f}" if accs else "—"
        spread += f" ± {statistics.stdev(accs):.3f}" if len(accs) > 1 else ""
        per = ", ".join(f"{s}: {a:.3f}" for s, a in zip(m.repeats, accs, strict=True))
        lines.append(f"| {m.label} | {seeds} | {len(accs)} | {per or '—'} | {spread} |")
    return [*lines, ""]


def _comparison_table(tested: list[CvComparison]) -> list[str]:
    lines = [
        "| A | B | family | design, test | per-fold differences A − B (points; repeat: folds) | Δ A − B [95 % "
        "interval] (points) | p | Holm p | detectable | reading | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in tested:
        r = c.result
        folds = "; ".join(
            f"{s}: " + ", ".join(f"{100 * d:+.1f}" for d in row) for s, row in zip(c.seeds, c.diffs, strict=True)
        )
        interval = f"{100 * r.delta:+.1f} [{100 * r.low:+.1f}, {100 * r.high:+.1f}]"
        cells = [c.a.label, c.b.label, FAMILIES[c.axis], f"{r.design}, {r.test}", folds, interval]
        cells += [f"{r.p:.3g}", f"{c.p_holm:.3g}", f"{100 * r.detectable:.1f}", c.reading(), r.note]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]
