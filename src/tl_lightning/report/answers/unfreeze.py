"""Q3: did unfreezing the last layers help."""

from __future__ import annotations

from tl_lightning.report.answers.common import gap, params
from tl_lightning.report.noise import describe_diff, verdict
from tl_lightning.report.runs import Cell, Sweep


def answer_mixed(sweep: Sweep) -> list[str]:
    if not any(sweep.cell(a, "mixed") for a in sweep.archs):
        return ["No `mixed` result was measured, so the sweep cannot answer this."]
    lines = []
    for arch in sweep.archs:
        mixed = sweep.cell(arch, "mixed")
        if mixed is None:
            lines.append(f"- **{arch}**: `mixed` was not measured (see missing runs), so no answer for it.")
        else:
            lines.append(_mixed_line(mixed, sweep.cell(arch, "extractor"), sweep.cell(arch, "finetune")))
    return lines


def _mixed_line(mixed: Cell, ext: Cell | None, fin: Cell | None) -> str:
    groups = mixed.values("unfreeze")
    what = f"the last {groups[0]} layer groups" if groups else "the last layer groups"
    text = f"- **{mixed.arch}** (`mixed` trains {what}, {params(mixed):,} parameters): "
    if ext is None:
        return text + f"{mixed.cite()}; `extractor` was not measured, so the effect of unfreezing is unknown."
    v = verdict(mixed, ext)
    extra = params(mixed) - params(ext)
    if v.exceeds_noise and v.diff > 0:
        text += f"unfreezing helped: {describe_diff(mixed, ext)}; the extra {extra:,} trainable parameters paid off."
    elif v.exceeds_noise:
        text += (
            f"unfreezing hurt: {describe_diff(mixed, ext)}; the extra {extra:,} trainable parameters fitted the "
            f"train set (train−val gap {gap(mixed):+.3f} vs {gap(ext):+.3f}) without generalising."
        )
    else:
        text += (
            f"unfreezing did not help measurably: {describe_diff(mixed, ext)}; the extra {extra:,} trainable "
            f"parameters bought no accuracy that {mixed.runs[0].val_size or 'these'} val images can resolve."
        )
    if fin is not None:
        text += f" Against full fine-tuning: {describe_diff(mixed, fin)}."
    return text
