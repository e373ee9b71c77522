"""report.md's cross-validation section: the methods' out-of-fold accuracies and their tests (crossval.py)."""

from __future__ import annotations

import statistics

from tl_lightning.report.crossval import CvComparison, Method, comparisons, cv_methods
from tl_lightning.report.cvtests import ALPHA
from tl_lightning.report.distinct import copies_sentence
from tl_lightning.report.groups import Sweep

FAMILY_RULE = (
    "Holm's correction runs within each family: Q2 per arch (`extractor` vs `finetune`, one pair), Q3 per arch "
    "(`mixed` vs `extractor` and vs `finetune`), Q4 per strategy (every pair of archs under it), other strategy "
    "pairs per arch, each also per combination of the other settings; a method outside a family never changes its "
    "Holm-adjusted p"
)


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
    judged = next((m for m in methods if m.pooled), None)
    copied = " " + copies_sentence(judged.pooled, judged.runs[0].data_root, "labelled images") if judged else ""
    return [
        f"{sum(len(m.runs) for m in methods)} runs record `data.folds` ({', '.join(map(str, folds))}): train/ and "
        f"val/ were pooled ({pooled}) and split into stratified folds, byte-identical files always in one fold, "
        f"once per `data.split_seed` (complete repeats: {', '.join(map(str, repeats)) or 'none'}). Each run "
        "trained on the other folds and was scored on its own fold at the last epoch; pooling a repeat's folds "
        f"judges every image once.{copied} The sections above compare cells within one (fold, split_seed), on that "
        "fold's images only: they are shown for inspection, not read as verdicts; the assignment's questions are "
        "answered from this section's tests.",
        "",
        "Two methods are compared on their per-fold accuracy differences, which vary with the training set as well "
        "as with the images: with 5 repeats of 2 folds by Alpaydin's combined 5x2cv F test (Dietterich's 5x2cv "
        "paired t beside it), otherwise by Nadeau and Bengio's corrected resampled t test. Δ is the mean over "
        "repeats of the pooled out-of-fold accuracy difference; its 95 % interval uses the test's variance "
        f"estimate and is not adjusted for multiplicity. {FAMILY_RULE}. A method is called better when the "
        f"Holm-adjusted p is below α = {ALPHA}, otherwise the pair is inconclusive (the unadjusted interval can then "
        "exclude 0, and the reading says so). `detectable` is the difference the design finds with 80 % power "
        "(t approximation).",
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
        "interval, unadjusted] (points) | p | Holm p | detectable | reading | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in tested:
        r = c.result
        folds = "; ".join(
            f"{s}: " + ", ".join(f"{100 * d:+.1f}" for d in row) for s, row in zip(c.seeds, c.diffs, strict=True)
        )
        interval = f"{100 * r.delta:+.1f} [{100 * r.low:+.1f}, {100 * r.high:+.1f}]"
        cells = [c.a.label, c.b.label, f"{c.family} ({c.family_size})", f"{r.design}, {r.test}", folds, interval]
        cells += [f"{r.p:.3g}", f"{c.p_holm:.3g}", f"{100 * r.detectable:.1f}", c.reading(), r.note]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]
