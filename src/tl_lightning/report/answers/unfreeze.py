"""Q3: did unfreezing the last layers help."""

from __future__ import annotations

from tl_lightning.report.answers.common import gap, gap_caution, params
from tl_lightning.report.explained import separability_sentence
from tl_lightning.report.groups import Cell, Sweep
from tl_lightning.report.noise import verdict
from tl_lightning.report.readings import describe_diff


def answer_mixed(sweep: Sweep) -> list[str]:
    if not any(sweep.cell(a, "mixed") for a in sweep.archs):
        return ["No `mixed` result was measured, so the sweep cannot answer this."]
    lines = []
    for arch in sweep.archs:
        mixed = sweep.cell(arch, "mixed")
        if mixed is None:
            lines.append(f"- **{arch}**: `mixed` was not measured (see missing runs), so no answer for it.")
        else:
            lines.append(_mixed_line(sweep, mixed, sweep.cell(arch, "extractor"), sweep.cell(arch, "finetune")))
    return lines


def _mixed_line(sweep: Sweep, mixed: Cell, ext: Cell | None, fin: Cell | None) -> str:
    groups = mixed.values("unfreeze")
    what = f"the last {groups[0]} layer groups" if groups else "the last layer groups"
    text = f"- **{mixed.arch}** (`mixed` trains {what}, {params(mixed):,} parameters): "
    if ext is None:
        return text + f"{mixed.cite()}; `extractor` was not measured, so the effect of unfreezing is unknown."
    v = verdict(sweep, mixed, ext)
    extra = params(mixed) - params(ext)
    diff = describe_diff(sweep, mixed, ext)
    if v.reading == "A better":
        text += f"unfreezing helped: {diff}; the extra {extra:,} trainable parameters paid off."
    elif v.reading == "B better":
        g_m, g_e = gap(mixed), gap(ext)
        text += f"unfreezing hurt: {diff}; " + (
            f"the extra {extra:,} trainable parameters fitted the train set more (train−val gap {g_m:+.3f} vs "
            f"{g_e:+.3f}) without generalising.{gap_caution(mixed, ext)}"
            if g_m > g_e
            else f"its train−val gap is not larger ({g_m:+.3f} vs {g_e:+.3f}), so overfitting does not explain it."
        )
    elif v.reading == "equivalent":
        text += f"unfreezing changed accuracy by less than ±{v.margin * 100:g} points: {diff}."
    elif v.test is None:
        text += f"the effect of unfreezing is untested: {diff}."
    else:
        text += f"the val images do not resolve the effect of unfreezing: {diff}."
    if fin is not None:
        text += f" Against full fine-tuning: {describe_diff(sweep, mixed, fin)}."
    return text + separability_sentence(ext, mixed, "unfreezing the last groups")
