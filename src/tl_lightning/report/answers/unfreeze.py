"""Q3: did unfreezing the last layers help."""

from __future__ import annotations

from tl_lightning.report.answers.common import gap, gap_caution, params
from tl_lightning.report.explained import separability_sentence
from tl_lightning.report.groups import Cell, Sweep
from tl_lightning.report.noise import describe_diff, verdict


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
    if v.exceeds_noise and v.diff > 0:
        text += f"unfreezing helped: {diff}; the extra {extra:,} trainable parameters paid off."
    elif v.exceeds_noise:
        text += (
            f"unfreezing hurt: {diff}; the extra {extra:,} trainable parameters fitted the train set "
            f"(train−val gap {gap(mixed):+.3f} vs {gap(ext):+.3f}) without generalising.{gap_caution(mixed, ext)}"
        )
    elif v.test is None:
        text += f"the effect of unfreezing is untested: {diff}."
    else:
        text += (
            f"unfreezing did not help measurably: {diff}; the extra {extra:,} trainable "
            f"parameters bought no accuracy that {mixed.runs[0].val_size or 'these'} val images can resolve."
        )
    if fin is not None:
        text += f" Against full fine-tuning: {describe_diff(sweep, mixed, fin)}."
    return text + separability_sentence(ext, mixed, "unfreezing the last groups")
