"""Q4: which network won, and why."""

from __future__ import annotations

from tl_lightning.report.answers.common import mean, params
from tl_lightning.report.noise import KEY, describe_diff, verdict
from tl_lightning.report.runs import Cell, Sweep


def answer_winner(sweep: Sweep) -> list[str]:
    cells = sorted((c for c in sweep.cells.values() if c.measured), key=lambda c: -c.estimate(KEY).mean)
    if not cells:
        return ["No cell was measured, so there is no winner."]
    top = cells[0]
    rivals = [_best_of(sweep, a) for a in sweep.archs if a != top.arch]
    rivals = [r for r in rivals if r]
    lines = [f"Highest last-epoch val accuracy: {top.cite()}."]
    if not rivals:
        return [*lines, "No other architecture was measured, so there is no contest."]
    beaten = [r for r in rivals if verdict(top, r).exceeds_noise]
    lines += [f"- vs {r.arch}'s best: {describe_diff(top, r)}." for r in rivals]
    if len(beaten) == len(rivals):
        lines.append(f"**{top.arch} won**: its lead over every other architecture's best cell exceeds the noise.")
    else:
        tied = ", ".join(r.arch for r in rivals if r not in beaten)
        lines.append(
            f"**No clear winner**: {top.arch} leads, but not beyond noise over {tied}; "
            f"{top.runs[0].val_size or 'these'} val images cannot separate them."
        )
    lines += _winner_why(sweep, top, cells)
    return lines


def _winner_why(sweep: Sweep, top: Cell, cells: list[Cell]) -> list[str]:
    lines = []
    ahead, behind = [], []
    for strategy in sweep.strategies:
        mine = sweep.cell(top.arch, strategy)
        others = [c for a in sweep.archs if a != top.arch and (c := sweep.cell(a, strategy))]
        if mine and others:
            best_other = max(others, key=lambda c: c.estimate(KEY).mean)
            (ahead if mine.estimate(KEY).mean >= best_other.estimate(KEY).mean else behind).append(strategy)
    frozen = (
        "; under `extractor` only the head trains, so there its lead can only come from its frozen ImageNet features."
    )
    if len(ahead) > 1 and not behind:
        lines.append(
            f"Why: {top.arch} has the highest mean under every strategy measured ({', '.join(ahead)}), so its lead "
            f"does not hinge on one training recipe" + (frozen if "extractor" in ahead else ".")
        )
    elif ahead and not behind:
        lines.append(
            f"Why: only `{ahead[0]}` was measured for {top.arch} and a rival, so the sweep cannot tell whether the "
            f"lead holds under other strategies" + (frozen if ahead == ["extractor"] else ".")
        )
    elif ahead:
        lines.append(
            f"Why: {top.arch} has the highest mean only under {', '.join(ahead)} and not under {', '.join(behind)}, "
            f"so its lead comes from the pairing with `{top.strategy}` rather than from the network alone."
        )
    lines.append(
        f"Cost: {top.label} trained {params(top):,} of {int(top.values('total_params')[0]):,} parameters "
        f"in {mean(top, 'wall_s'):.1f} s per run."
    )
    best_epoch = max(cells, key=lambda c: c.estimate("val_acc_best").mean)
    if best_epoch is top:
        lines.append(f"Best-epoch accuracy gives the same leader: {top.cite('val_acc_best')}.")
    else:
        lines.append(
            f"Best-epoch accuracy (picked on the same val images, so optimistic) ranks "
            f"{best_epoch.cite('val_acc_best')} first instead."
        )
    return lines


def _best_of(sweep: Sweep, arch: str) -> Cell | None:
    cells = [c for s in sweep.strategies if (c := sweep.cell(arch, s))]
    return max(cells, key=lambda c: c.estimate(KEY).mean) if cells else None
