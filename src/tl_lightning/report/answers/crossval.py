"""Q2–Q4 answered from the cross-validation tests, for runs that record data.folds.

One fold's val images are a small sample and the training set varies from fold to fold, so the per-fold
comparisons of the val-split sections are never read as verdicts here: every answer is a cross-validation
test of a pair of methods (crossval.py), Holm-adjusted within its family.
"""

from __future__ import annotations

from tl_lightning.report.crossval import CvComparison, Method
from tl_lightning.report.cvtests import ALPHA
from tl_lightning.report.families import short_name

SOURCE = (
    "These runs are cross-validation folds (`data.folds`): every answer below is the cross-validation test of a "
    "pair of methods (section Cross-validation), Holm-adjusted within its family; the per-fold comparisons above "
    "are not used."
)


def describe(c: CvComparison, first: Method | None = None) -> str:
    """The pair (A first, or `first` first) with Δ, its unadjusted interval, the test, p and the Holm p."""
    c = c.flipped() if first is not None and c.b is first else c
    r = c.result
    return (
        f"{c.a.label} vs {c.b.label}: Δ = {100 * r.delta:+.1f} points, 95 % interval {100 * r.low:+.1f} to "
        f"{100 * r.high:+.1f} (unadjusted); {r.test} p = {r.p:.3g}, Holm-adjusted p = {c.p_holm:.3g} "
        f"({c.family_size} comparison(s) in {short_name(c.family)}): {c.reading()}"
    )


def answer_cv(tested: list[CvComparison], asked: str) -> list[str]:
    """The answer to Q2, Q3 or Q4 from the cross-validation comparisons."""
    pairs = [c for c in tested if c.question == asked]
    if not pairs:
        return [SOURCE, "No pair of cross-validated methods answers this question."]
    if asked == "Q4":
        return [SOURCE, *_winners(pairs)]
    lead = "extractor" if asked == "Q2" else "mixed"
    lines = [SOURCE]
    for c in pairs:
        first = c.a if c.a.settings["strategy"] == lead else c.b
        lines.append(f"- **{c.a.settings['arch']}**: {describe(c, first)}.")
    better = sum(c.p_holm < ALPHA for c in pairs)
    lines.append(
        f"{better} of {len(pairs)} comparison(s) are beyond noise (Holm-adjusted p < {ALPHA}); the others are "
        "inconclusive: the cross-validated design does not tell these methods apart."
    )
    return lines


def _winners(pairs: list[CvComparison]) -> list[str]:
    """Per family (one strategy, other settings equal): the arch ahead of every other one, if any."""
    lines = []
    for family in dict.fromkeys(c.family for c in pairs):
        under = [c for c in pairs if c.family == family]
        lines += [f"- {describe(c)}." for c in under]
        methods = list({id(m): m for c in under for m in (c.a, c.b)}.values())
        won = [m for m in methods if all(_beats(under, m, o) for o in methods if o is not m)]
        if won:
            lines.append(
                f"**{won[0].settings['arch']} won** in {short_name(family)}: the cross-validation test puts it ahead "
                f"of every other architecture there (Holm-adjusted p < {ALPHA})."
            )
        else:
            lines.append(
                f"**No clear winner** in {short_name(family)}: no architecture is ahead of every other one beyond "
                "noise in the cross-validation tests."
            )
    return lines


def _beats(under: list[CvComparison], m: Method, o: Method) -> bool:
    c = next((c for c in under if {id(c.a), id(c.b)} == {id(m), id(o)}), None)
    return c is not None and c.p_holm < ALPHA and (c.result.delta > 0) == (c.a is m)
