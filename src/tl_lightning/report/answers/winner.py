"""Q4: which network won, and why."""

from __future__ import annotations

from tl_lightning.report.answers.common import frozen_source, mean, params
from tl_lightning.report.groups import Cell, Sweep
from tl_lightning.report.noise import KEY, verdict
from tl_lightning.report.paired import ALPHA
from tl_lightning.report.readings import describe_diff


def answer_winner(sweep: Sweep) -> list[str]:
    cells = sorted(sweep.cells, key=lambda c: -c.estimate(KEY).mean)
    if not cells:
        return ["No cell was measured, so there is no winner."]
    top = cells[0]
    # Rivals share the top cell's strategy: a comparison changes one axis only.
    rivals = [c for a in sweep.archs if a != top.arch and (c := sweep.cell(a, top.strategy))]
    lines = [f"Highest last-epoch val accuracy: {top.cite()}."]
    if not rivals:
        return [*lines, f"No other architecture was measured with `{top.strategy}`, so there is no contest."]
    tests = {r.label: verdict(sweep, top, r) for r in rivals}
    lines += [f"- vs {r.label}: {describe_diff(sweep, top, r)}." for r in rivals]
    by_reading: dict[str, list[str]] = {}
    for r in rivals:
        by_reading.setdefault(tests[r.label].reading, []).append(r.arch)
    if set(by_reading) == {"A better"}:
        lines.append(
            f"**{top.arch} won** under `{top.strategy}`: it is better than every other architecture with the same "
            f"strategy and settings (Holm-adjusted p < {ALPHA})."
        )
        return [*lines, *_winner_why(sweep, top, cells)]
    reasons = []
    for reading, words in (
        ("B better", "behind"),
        ("inconclusive", "not separated from"),
        ("equivalent", f"equivalent within ±{sweep.root.margin * 100:g} points to"),
        ("not tested", "untested against"),
    ):
        if reading in by_reading:
            reasons.append(f"{words} {', '.join(by_reading[reading])}")
    lines.append(
        f"**No clear winner**: {top.arch} has the highest mean under `{top.strategy}`, but is {'; '.join(reasons)}."
    )
    return [*lines, *_cost_lines(top, cells)]


def _winner_why(sweep: Sweep, top: Cell, cells: list[Cell]) -> list[str]:
    lines = []
    ahead, behind = [], []
    for strategy in sweep.strategies:
        mine = sweep.cell(top.arch, strategy)
        others = [c for a in sweep.archs if a != top.arch and (c := sweep.cell(a, strategy))]
        if mine and others:
            best_other = max(others, key=lambda c: c.estimate(KEY).mean)
            (ahead if mine.estimate(KEY).mean >= best_other.estimate(KEY).mean else behind).append(strategy)
    extractor = sweep.cell(top.arch, "extractor")
    frozen = (
        f"; under `extractor` only the head trains, so there its lead can only come from {frozen_source(extractor)}."
        if extractor
        else "."
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
    return [*lines, *_cost_lines(top, cells)]


def _cost_lines(top: Cell, cells: list[Cell]) -> list[str]:
    lines = []
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
