"""The words of a comparison: Δ in points and images, its interval, the test, and one of the readings."""

from __future__ import annotations

from tl_lightning.report.classes import class_sentence
from tl_lightning.report.escape import code
from tl_lightning.report.families import FAMILY_RULE, short_name
from tl_lightning.report.groups import Cell, Sweep, followers
from tl_lightning.report.noise import KEY, RULE, SETTING_RULE, PairTest, family, verdict
from tl_lightning.report.paired import ALPHA, MCNEMAR, SIGN_FLIP
from tl_lightning.report.power import POWER

FOLD_NOTE = (
    "Cross-validation runs (`data.folds`): a comparison below is judged on one fold's val images, with one "
    "training set; it is shown for inspection and never read as a verdict. The verdicts, and the answers to the "
    "assignment's questions, come from the cross-validation test of each pair (section Cross-validation)."
)


def points(x: float) -> str:
    """An accuracy difference in signed points, never "-0.0"."""
    value = round(x * 100, 1)
    return "0.0" if value == 0 else f"{value:+.1f}"


def fmt_p(p: float | None) -> str:
    return "—" if p is None else f"{p:.3g}"


def images(t: PairTest) -> str:
    """Δ as val images: whole images with one run per cell, else a mean over runs (and says so)."""
    n = t.a.runs[0].val_size
    if not n:
        return ""
    count = abs(t.diff) * n
    if round(count, 6) == 0:
        return f" (no image of {n})"
    whole = len(t.a.runs) == len(t.b.runs) == 1 and abs(count - round(count)) < 1e-6
    size = f"{round(count)}" if whole else f"{count:.1f}"
    return f" ({size} of {n} val images{'' if whole else ', mean over runs'})"


def reading_text(t: PairTest) -> str:
    """The reading in words, with the p values it rests on: A better / B better / equivalent / inconclusive."""
    reading = t.reading
    if reading in ("A better", "B better"):
        res = t.resolution
        edge = res is not None and res.low <= 0 <= res.high  # the exact test and the normal interval disagree
        note = "; the unadjusted interval still includes 0 (the exact test rejects, the interval's normal "
        return f"{(t.a if reading == 'A better' else t.b).label} better" + (
            note + "approximation does not)" if edge else ""
        )
    tost = f"TOST for ±{t.margin * 100:g} points: p = {fmt_p(t.resolution and t.resolution.tost_p)}, Holm-adjusted "
    if reading == "equivalent":
        return f"equivalent within ±{t.margin * 100:g} points ({tost}p = {fmt_p(t.tost_holm)})"
    if reading == "inconclusive" and t.resolution:
        res = t.resolution
        text = f"inconclusive (difference: Holm-adjusted p = {fmt_p(t.p_holm)}; {tost}p = {fmt_p(t.tost_holm)})"
        if res.low > 0 or res.high < 0:  # the interval is unadjusted; the verdict is not
            text += "; the unadjusted interval excludes 0, the Holm-corrected test does not"
        return text
    return "not tested"


def short_family(t: PairTest) -> str:
    return short_name(t.family)


def detectable_text(t: PairTest) -> str:
    res = t.resolution
    if res is None:
        return "—"
    if res.detectable is None:
        return "none reachable"
    text = f"{res.detectable * 100:.1f}"
    if t.family_size > 1:
        strict = "none reachable" if res.detectable_strict is None else f"{res.detectable_strict * 100:.1f}"
        text += f" ({strict} at α/{t.family_size})"
    return text


def describe_diff(sweep: Sweep, a: Cell, b: Cell) -> str:
    """One comparison in a sentence: the cells, Δ, its interval, the test, p, adjusted p and the reading."""
    v = verdict(sweep, a, b)
    text = f"{a.cite(KEY)} vs {b.cite(KEY)}: Δ = {points(v.diff)} points{images(v)}"
    if v.test and v.resolution:
        res = v.resolution
        text += (
            f", unadjusted 95 % interval {points(res.low)} to {points(res.high)} points; {v.test} p = {fmt_p(v.p)}, "
            f"Holm-adjusted p = {fmt_p(v.p_holm)} ({v.family_size} comparison(s) in {short_family(v)}): "
            f"{reading_text(v)}"
        )
        if v.reading == "inconclusive" and res.detectable is not None:
            found = res.detectable * 100
            text += f" (at α = {ALPHA} this design finds a difference of {found:.1f} points with 80 % power)"
    else:
        text += f", not tested: {v.why_not}"
    note = regime_note(a, b)
    return text + (f"; {note}" if note else "") + class_sentence(v)


def regime_note(a: Cell, b: Cell) -> str:
    if a.regime == b.regime:
        return ""
    return f"the pair crosses augmentation regimes ({a.label}: {a.regime or 'unrecorded'}, {b.label}: " + (
        f"{b.regime or 'unrecorded'})"
    )


def method_lines(sweep: Sweep) -> list[str]:
    """The report header's account of the test, the families, the readings and the detectable difference."""
    margin = sweep.root.margin * 100
    return [
        "Whether two cells differ is decided by a paired test on the per-image correctness of the last epoch "
        "(val_predictions_last.csv, the epoch the table shows, not selected on the val images): the sign-flip "
        "permutation test over val images of the per-image difference in correctness, each cell's runs averaged "
        f"per image, with its exact distribution (shown as `{SIGN_FLIP}`). With one run per cell, or runs that "
        f"agree image by image, it is the exact McNemar test (shown as `{MCNEMAR}`). It takes the trained runs as "
        "given and the val images as the sample: it asks whether these runs differ on images like these, not "
        "whether the method would win with other training images.",
        "",
        "Holm-adjusted p: the p value corrected for the other comparisons of its family (Holm's step-down method), "
        f"so that the chance of any false *better* within one family stays at most α = {ALPHA}. {FAMILY_RULE} Each "
        f"comparison gets one reading: *A better* or *B better* (Holm-adjusted p < {ALPHA}), *equivalent* (below), "
        "or *inconclusive*, printed with both tests' p values. The 95 % interval of the difference (Bonett–Price "
        "adjusted Wald interval for paired proportions, on the run-averaged differences with several runs) is "
        "printed as it is, *unadjusted* for multiplicity: it can exclude 0 for a pair the Holm-corrected test leaves "
        "inconclusive, and the reading then says so. "
        f"*Equivalent* is said only when the equivalence test says so: two one-sided tests (TOST) that the "
        f"difference lies within ±{margin:g} points (the margin, `--margin`), Holm-adjusted within the family "
        "like the difference tests; its p values are printed beside *equivalent* and *inconclusive*.",
        "",
    ]


def noise_table(sweep: Sweep) -> list[str]:
    """Markdown: per family (question) every comparison with Δ, interval, test, p, Holm p, reading, power."""
    tests = family(sweep)
    if not tests:
        return ["No pair of measured cells to compare."]
    coupled = followers(sweep.root.varying)
    swept = ", ".join(code(k) for k in sweep.root.varying if k not in coupled)
    lines = [
        RULE + (" " + SETTING_RULE.format(swept) if swept else ""),
        "",
        f"Detectable: the smallest difference δ (points) the test finds with {POWER * 100:.0f} % power at "
        f"α = {ALPHA} (in parentheses: at α/m, Holm's strictest step in a family of m tested comparisons), for "
        "this many val images and the observed share of images the two cells disagree on (or δ itself where larger: a "
        "difference of δ needs that much disagreement). With one run per cell it is exact: the number of "
        "discordant images is binomial with that share, the images favouring A among them binomial with "
        "(1 + δ / share) / 2, and the power sums both over the exact McNemar rejection region. With several runs "
        "per cell it is the normal approximation of the sign-flip test, n·δ = (z(1 − α/2) + z(0.80)) · √(Σ d²), "
        "d the per-image differences. *none reachable*: not even δ = 100 points would be found that often.",
        "",
    ]
    if any(t.a.settings.get("folds") is not None for t in tests.values()):
        lines += [FOLD_NOTE, ""]
    for name in dict.fromkeys(t.family for t in tests.values()):
        members = [t for t in tests.values() if t.family == name]
        lines += [f"### {name[0].upper()}{name[1:]}", "", *_family_rows(members), ""]
    return lines[:-1]


def _family_rows(members: list[PairTest]) -> list[str]:
    tested = sum(t.p is not None for t in members)
    lines = [
        f"{tested} tested comparisons, Holm-corrected together." if tested > 1 else f"{tested} tested comparison(s).",
        "",
        "| A | B | Δ (A−B), points | 95 % interval (unadjusted), points | test | p | Holm p | reading | detectable, "
        "points | note |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for t in members:
        res = t.resolution
        interval = f"{points(res.low)} to {points(res.high)}" if res else "—"
        reading = reading_text(t) if t.a.settings.get("folds") is None else "one fold: not a verdict"
        cells = [t.a.cite(KEY), t.b.cite(KEY), points(t.diff), interval, t.test or "—", fmt_p(t.p), fmt_p(t.p_holm)]
        crossing = regime_note(t.a, t.b) if t.axis != "augmentation" else ""  # else the regime is the comparison
        note = "; ".join(x for x in (t.why_not, crossing) if x)
        lines.append("| " + " | ".join([*cells, reading, detectable_text(t), note]) + " |")
    return lines
