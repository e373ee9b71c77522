"""The cross-validated comparison: runs with data.folds pooled out of fold, methods compared across training sets.

A method is every setting a run records except the seed, the fold, the split seed and the steps per epoch
(which follow the fold's size). Per repeat (split_seed) its folds' out-of-fold predictions (the last epoch's,
like the rest of the report) are pooled, so every labelled image is judged once per repeat; two methods are
compared on the per-fold accuracy differences of the repeats both completed (cvtests.py).
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field, replace

from tl_lightning.report.cvtests import ALPAYDIN, ALPHA, CvTest, compare
from tl_lightning.report.distinct import copies
from tl_lightning.report.escape import code, md
from tl_lightning.report.families import family_name, question
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

Folds = dict[int, dict[str, float]]  # fold -> image -> share of the method's runs that classified it right


@dataclass
class Method:
    settings: dict  # without seed, fold, split_seed, steps_per_epoch
    runs: list[Run] = field(default_factory=list)
    repeats: dict[int, Folds] = field(default_factory=dict)  # split_seed -> its complete folds
    problems: list[str] = field(default_factory=list)
    extra: str = ""  # the settings that tell it from other methods of its arch and strategy
    pooled: list[str] = field(default_factory=list)  # the images of its first complete repeat, copies included

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
    family: str = ""  # the question and the arch or strategy it is asked of (noise.family_name)
    p_holm: float = 1.0
    family_size: int = 1

    @property
    def question(self) -> str:
        return question(self.axis, {self.a.settings["strategy"], self.b.settings["strategy"]})

    def reading(self) -> str:
        if self.p_holm < ALPHA:
            return f"{self.a.label if self.result.delta > 0 else self.b.label} better"
        text = f"inconclusive (Holm-adjusted p = {self.p_holm:.3g})"
        if self.result.low > 0 or self.result.high < 0:  # the interval is unadjusted; the verdict is not
            text += "; the unadjusted interval excludes 0, the Holm-corrected test does not"
        return text

    def flipped(self) -> CvComparison:
        """B against A: Δ, its interval and t statistics change sign (F is a sum of squares and does not)."""
        r = self.result
        note = re.sub(r"t = ([+-])", lambda m: "t = " + ("-" if m[1] == "+" else "+"), r.note)
        statistic = r.statistic if r.test == ALPAYDIN else -r.statistic
        result = replace(r, statistic=statistic, delta=-r.delta, low=-r.high, high=-r.low, note=note)
        diffs = [[-d for d in row] for row in self.diffs]
        return replace(self, a=self.b, b=self.a, diffs=diffs, result=result)


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
            method.pooled = method.pooled or images
            found = copies(images, method.runs[0].data_root)  # each distinct image once, in its fold
            folds = {f: {i: c for i, c in fold.items() if found is None or found[i] == i} for f, fold in folds.items()}
            method.repeats[seed] = dict(sorted(folds.items()))


def comparisons(methods: list[Method]) -> list[CvComparison]:
    """Every pair of methods differing in arch or in strategy only, tested; Holm within each family: the pair's
    question and the arch (strategy pairs) or strategy (arch pairs) it is asked of, and every other setting."""
    found = []
    for i, a in enumerate(methods):
        for b in methods[i + 1 :]:
            axis = _axis(a, b)
            if axis and (tested := _compare(a, b, axis)) is not None:
                found.append(tested)
    families: dict[tuple, list[CvComparison]] = {}
    for c in found:
        shared = sorted((k, str(v)) for k, v in c.a.settings.items() if k not in IMPLIED[c.axis])
        families.setdefault((c.family, *shared), []).append(c)
    adjusted = {}
    for family in families.values():
        size = len(family)
        adjusted |= {id(c): (p, size) for c, p in zip(family, holm([c.result.p for c in family]), strict=True)}
    return [replace(c, p_holm=adjusted[id(c)][0], family_size=adjusted[id(c)][1]) for c in found]


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
    strategies = {a.settings["strategy"], b.settings["strategy"]}
    name = family_name(axis, a.settings["arch"], strategies, a.extra if a.extra == b.extra else "")
    return CvComparison(a, b, axis, diffs, seeds, compare(diffs, delta, ratio), name)


def _same_split(x: Folds, y: Folds) -> bool:
    return x.keys() == y.keys() and all(x[f].keys() == y[f].keys() for f in x)


def _acc(fold: dict[str, float]) -> float:
    return sum(fold.values()) / len(fold)
