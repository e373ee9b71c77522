"""Q2: why freezing can beat fine-tuning here."""

from __future__ import annotations

from tl_lightning.report.answers.common import (
    gap,
    gap_caution,
    majority_baseline,
    mean,
    params,
    train_size,
    weights_argument,
)
from tl_lightning.report.explained import separability_sentence
from tl_lightning.report.groups import Cell, Sweep
from tl_lightning.report.noise import KEY, describe_diff, verdict


def answer_freeze(sweep: Sweep) -> list[str]:
    pairs = [(e, f) for a in sweep.archs if (e := sweep.cell(a, "extractor")) and (f := sweep.cell(a, "finetune"))]
    if not pairs:
        return ["No architecture has both an `extractor` and a `finetune` result, so the sweep cannot answer this."]
    verdicts = [verdict(sweep, e, f) for e, f in pairs]
    wins = sum(v.exceeds_noise and v.diff > 0 for v in verdicts)
    losses = sum(v.exceeds_noise and v.diff < 0 for v in verdicts)
    untested = sum(v.test is None for v in verdicts)
    lines = [
        f"Freezing (`extractor`) beat fine-tuning beyond noise for {wins} of {len(pairs)} architectures, "
        f"fine-tuning beat freezing for {losses}, and {len(pairs) - wins - losses - untested} are within noise of "
        "each other" + (f"; {untested} could not be tested (see below)." if untested else ".")
    ]
    lines += [_freeze_line(sweep, e, f) for e, f in pairs]
    lines.append(_freeze_background(sweep, [e for e, _ in pairs], wins, losses, untested == len(pairs)))
    return lines


def _freeze_line(sweep: Sweep, ext: Cell, fin: Cell) -> str:
    v = verdict(sweep, ext, fin)
    p_e, p_f = params(ext), params(fin)
    n_train = train_size(sweep)
    text = f"- **{ext.arch}**: {describe_diff(sweep, ext, fin)}. Trainable parameters: {p_e:,} vs {p_f:,}"
    if n_train:
        text += f" for {n_train} train images ({p_f / n_train:,.0f} per image when fine-tuning)"
    g_e, g_f = gap(ext), gap(fin)
    text += f". Train−val accuracy gap at the last epoch: {g_e:+.3f} vs {g_f:+.3f}. "
    if v.exceeds_noise and v.diff > 0:
        text += f"Freezing won for {ext.arch}; " + (
            "fine-tuning shows the larger train−val gap, i.e. it fitted the train images more than it generalised."
            if g_f > g_e
            else "fine-tuning's train−val gap is not larger, so the gap alone does not explain the loss."
        )
    elif v.exceeds_noise:
        text += f"Fine-tuning won for {ext.arch}: adapting every layer paid off despite the small train set."
    else:
        outcome = "matched fine-tuning within noise" if v.test else "was not tested against fine-tuning"
        text += (
            f"Freezing {outcome} while training {p_e / p_f:.2%} of the parameters"
            f" in {mean(ext, 'wall_s') / mean(fin, 'wall_s'):.0%} of the wall time."
        )
    return text + gap_caution(ext, fin) + separability_sentence(ext, fin, "fine-tuning")


def _freeze_background(sweep: Sweep, extractors: list[Cell], wins: int, losses: int, none_tested: bool) -> str:
    n_train = train_size(sweep)
    size = f"the train set is small ({n_train} images)" if n_train else "the train set is small"
    baseline = majority_baseline(sweep)
    best = max(extractors, key=lambda c: c.estimate(KEY).mean)
    if none_tested:
        lead = "Why freezing can compete here (no paired test could run, so this sweep does not show which won)"
    elif wins:
        lead = "Why freezing won here"
    elif not losses:
        lead = "Why freezing can match fine-tuning here (this sweep shows no win of either beyond noise)"
    else:
        lead = "Why freezing was expected to compete (this sweep shows fine-tuning ahead instead)"
    text = (
        f"{lead}: {size}, so training only the new head leaves little to overfit; and {weights_argument(extractors)}."
        f" The best frozen result is {best.cite()}"
    )
    if baseline:
        text += f", against a majority-class baseline of {baseline[1]}/{baseline[2]} = {baseline[1] / baseline[2]:.3f}"
        text += f" (always answering `{baseline[0]}`)"
    return text + "."
