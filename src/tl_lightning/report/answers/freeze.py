"""Q2: why freezing can beat fine-tuning here."""

from __future__ import annotations

import math

from tl_lightning.report.answers.common import (
    gap,
    gap_caution,
    majority_baseline,
    mean,
    params,
    train_size,
    weights_argument,
)
from tl_lightning.report.escape import code
from tl_lightning.report.explained import separability_sentence
from tl_lightning.report.groups import Cell, Sweep
from tl_lightning.report.noise import KEY, PairTest, verdict
from tl_lightning.report.readings import describe_diff


def answer_freeze(sweep: Sweep) -> list[str]:
    pairs = [(e, f) for a in sweep.archs if (e := sweep.cell(a, "extractor")) and (f := sweep.cell(a, "finetune"))]
    if not pairs:
        return ["No architecture has both an `extractor` and a `finetune` result, so the sweep cannot answer this."]
    verdicts = [verdict(sweep, e, f) for e, f in pairs]
    count = {r: sum(v.reading == r for v in verdicts) for r in ("A better", "B better", "equivalent", "inconclusive")}
    untested = sum(v.test is None for v in verdicts)
    lines = [
        f"Freezing (`extractor`) was better than fine-tuning for {count['A better']} of {len(pairs)} "
        f"architectures and fine-tuning better for {count['B better']}; {count['inconclusive']} comparison(s) are "
        f"inconclusive"
        + (f", {count['equivalent']} shown equivalent within the margin" if count["equivalent"] else "")
        + (f", {untested} could not be tested (see below)." if untested else ".")
    ]
    lines += [_freeze_line(sweep, e, f, v) for (e, f), v in zip(pairs, verdicts, strict=True)]
    lines.append(_freeze_background(sweep, pairs, verdicts))
    return lines


def _freeze_line(sweep: Sweep, ext: Cell, fin: Cell, v: PairTest) -> str:
    p_e, p_f = params(ext), params(fin)
    n_train = train_size(sweep)
    text = f"- **{ext.arch}**: {describe_diff(sweep, ext, fin)}. Trainable parameters: {p_e:,} vs {p_f:,}"
    if n_train:
        text += f" for {n_train} train images ({p_f / n_train:,.0f} per image when fine-tuning)"
    g_e, g_f = gap(ext), gap(fin)
    text += f". Train−val accuracy gap at the last epoch: {g_e:+.3f} vs {g_f:+.3f}. "
    cost = f"freezing trained {p_e / p_f:.2%} of the parameters in {mean(ext, 'wall_s') / mean(fin, 'wall_s'):.0%} of"
    if v.reading == "A better":
        text += f"Freezing won for {ext.arch}; " + (
            "fine-tuning shows the larger train−val gap, i.e. it fitted the train images more than it generalised."
            if g_f > g_e
            else "fine-tuning's train−val gap is not larger, so the gap does not explain the loss."
        )
    elif v.reading == "B better":
        text += f"Fine-tuning won for {ext.arch}."
    elif v.reading == "equivalent":
        text += f"Freezing matched fine-tuning within ±{v.margin * 100:g} points; {cost} the wall time."
    elif v.test:
        text += f"The val images do not decide between them; {cost} the wall time."
    else:
        text += f"Freezing was not tested against fine-tuning; {cost} the wall time."
    return text + gap_caution(ext, fin) + separability_sentence(ext, fin, "fine-tuning")


def _freeze_background(sweep: Sweep, pairs: list[tuple[Cell, Cell]], verdicts: list[PairTest]) -> str:
    readings = {v.reading for v in verdicts}
    if readings == {"not tested"}:
        lead = "What bears on freezing vs fine-tuning (no paired test could run, so this sweep does not show which won)"
    elif "A better" in readings:
        lead = "Why freezing won here"
    elif "B better" in readings:
        lead = "Why freezing was expected to compete (this sweep shows fine-tuning ahead instead)"
    else:
        lead = "What bears on freezing vs fine-tuning here (neither is ahead beyond noise for any architecture)"
    n_train = train_size(sweep)
    reasons = [f"the train set has {n_train} images" if n_train else "the train set size is not recorded"]
    reasons += _overfitting(pairs)
    reasons.append(weights_argument(sweep, [e for e, _ in pairs]))
    best = max((e for e, _ in pairs), key=lambda c: c.estimate(KEY).mean)
    text = f"{lead}: {'; '.join(reasons)}. The best frozen result is {best.cite()}"
    baseline = majority_baseline(sweep)
    if baseline:
        text += f", against a majority-class baseline of {baseline[1]}/{baseline[2]} = {baseline[1] / baseline[2]:.3f}"
        text += f" (always answering {code(baseline[0])})"
    return text + "."


def _overfitting(pairs: list[tuple[Cell, Cell]]) -> list[str]:
    """The overfitting argument where the measured gaps support it, and its failure where they contradict it."""
    gaps = [(e.arch, gap(e), gap(f)) for e, f in pairs if not (math.isnan(gap(e)) or math.isnan(gap(f)))]
    smaller = [f"{a} {g_e:+.3f} vs {g_f:+.3f}" for a, g_e, g_f in gaps if g_e < g_f]
    larger = [f"{a} {g_e:+.3f} vs {g_f:+.3f}" for a, g_e, g_f in gaps if g_e >= g_f]
    out = []
    if smaller:
        out.append(
            f"the frozen net's train−val gap is the smaller one ({', '.join(smaller)}, frozen vs fine-tuned), as "
            "expected when only the new head trains and there is less to overfit"
        )
    if larger:
        out.append(
            f"the frozen net's train−val gap is not the smaller one ({', '.join(larger)}, frozen vs fine-tuned), so "
            "less overfitting does not explain a frozen result there"
        )
    return out
