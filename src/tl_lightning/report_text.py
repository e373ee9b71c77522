"""The assignment's questions, answered by rules over the measured cells.

Every sentence is built from numbers in the sweep and cites the cells it uses; where the
numbers cannot decide (difference within noise, cell missing) the text says so instead.
"""

from __future__ import annotations

import math

from tl_lightning.report_data import Cell, Run, Sweep
from tl_lightning.stats import Verdict, compare

KEY = "val_acc_last"  # comparisons use the last epoch: it was not selected on the val images
IMAGENET_CLASSES = "ImageNet-1k has the classes `ant` (index 310) and `bee` (index 309)"


def verdict(a: Cell, b: Cell, key: str = KEY) -> Verdict:
    return compare(a.estimate(key), b.estimate(key))


def describe_diff(a: Cell, b: Cell, key: str = KEY) -> str:
    v = verdict(a, b, key)
    n = a.runs[0].val_size
    images = f" ≈ {abs(v.diff) * n:.1f} val images" if n else ""
    noise = "exceeds the noise" if v.exceeds_noise else "within the noise"
    return f"{a.cite(key)} vs {b.cite(key)}: Δ = {v.diff:+.3f}{images}, {noise} ({v.reason()})"


def noise_table(sweep: Sweep) -> list[str]:
    """Markdown rows for every same-arch and same-strategy pair of measured cells."""
    lines = ["| A | B | Δ (A−B) | A − B beyond noise? | why |", "|---|---|---|---|---|"]
    for a, b in _pairs(sweep):
        v = verdict(a, b)
        lines.append(
            f"| {a.cite()} | {b.cite()} | {v.diff:+.3f} | {'yes' if v.exceeds_noise else 'no'} | {v.reason()} |"
        )
    return lines if len(lines) > 2 else ["No pair of measured cells to compare."]


def _pairs(sweep: Sweep) -> list[tuple[Cell, Cell]]:
    pairs = []
    for arch in sweep.archs:
        cells = [c for s in sweep.strategies if (c := sweep.cell(arch, s))]
        pairs += [(a, b) for i, a in enumerate(cells) for b in cells[i + 1 :]]
    for strategy in sweep.strategies:
        cells = [c for a in sweep.archs if (c := sweep.cell(a, strategy))]
        pairs += [(a, b) for i, a in enumerate(cells) for b in cells[i + 1 :]]
    return pairs


# -- Q1: shuffle and batch size ------------------------------------------------------------------
def answer_shuffle(sweep: Sweep) -> list[str]:
    runs = sweep.ok_runs
    if not runs:
        return ["No run finished, so there is nothing measured to answer from."]
    lines = _class_order_lines(runs)
    counts, source = _class_counts(runs)
    sizes = sorted({b for r in runs if (b := r.batch_size())})
    if not sizes:
        return [*lines, "The runs do not record their batch size (no metrics `batch_size`, no .hydra/config.yaml)."]
    if counts:
        lines += [_shuffle_effect(counts, source, b) for b in sizes]
    epochs = sorted({r.metrics["epochs"] for r in runs})
    lines.append(_batch_size_line(sizes, counts, epochs))
    return lines


def _class_order_lines(runs: list[Run]) -> list[str]:
    run = next((r for r in runs if r.predictions), None)
    if run is None:
        return ["No val_predictions.csv was found, so the file order cannot be shown from the runs."]
    blocks = _blocks([row["true"] for row in run.predictions])
    spans = ", ".join(f"rows {s}–{e} are `{c}`" for c, s, e in blocks)
    return [
        f"ImageFolder lists images class by class, in sorted folder order. The {len(run.predictions)} val "
        f"images of `{run.name}` (val_predictions.csv, loader order) show it: {spans}."
    ]


def _blocks(labels: list[str]) -> list[tuple[str, int, int]]:
    """Runs of equal labels as (label, first row, last row), rows counted from 1."""
    blocks: list[tuple[str, int, int]] = []
    for i, label in enumerate(labels, start=1):
        if blocks and blocks[-1][0] == label:
            blocks[-1] = (label, blocks[-1][1], i)
        else:
            blocks.append((label, i, i))
    return blocks


def _class_counts(runs: list[Run]) -> tuple[dict[str, int], str]:
    for run in runs:
        if run.metrics.get("train_class_counts"):
            return dict(run.metrics["train_class_counts"]), "train set"
    run = next((r for r in runs if r.predictions), None)
    if run is None:
        return {}, ""
    counts: dict[str, int] = {}
    for row in run.predictions:
        counts[row["true"]] = counts.get(row["true"], 0) + 1
    return counts, "val set (train class counts are not in metrics.json)"


def _shuffle_effect(counts: dict[str, int], source: str, batch: int) -> str:
    total = sum(counts.values())
    n_batches = math.ceil(total / batch)
    ordered = [c for c, k in counts.items() for _ in range(k)]
    sizes = [min(batch, total - i) for i in range(0, total, batch)]
    single = sum(len(set(ordered[i : i + batch])) == 1 for i in range(0, total, batch))
    expected = sum(_p_single_class(counts, s) for s in sizes)
    listing = ", ".join(f"`{c}` {k}" for c, k in counts.items())
    mixed = "so most steps see both classes" if expected < n_batches / 2 else "still many, at this batch size"
    return (
        f"The {source} holds {listing} ({total} images). At batch_size={batch} that is {n_batches} batches "
        f"per epoch. Unshuffled, {single} of {n_batches} batches would hold a single class, the whole "
        f"`{ordered[0]}` block first: consecutive SGD steps would each push toward one class and the epoch would "
        f"end on a run of `{ordered[-1]}` steps. Shuffled, a batch is single-class only by chance: "
        f"{expected:.1f} of {n_batches} expected, {mixed}, and the classes interleave across steps. That is why "
        f"the train loader shuffles (the val loader need not: accuracy does not depend on order)."
    )


def _p_single_class(counts: dict[str, int], size: int) -> float:
    """Probability that `size` images drawn without replacement all share one class."""
    total = sum(counts.values())
    return sum(math.comb(k, size) for k in counts.values()) / math.comb(total, size)


def _batch_size_line(sizes: list[int], counts: dict[str, int], epochs: list[int]) -> str:
    used = ", ".join(str(s) for s in sizes)
    text = f"Images per batch: {used} (data.batch_size of the finished runs)"
    total = sum(counts.values())
    if total and len(sizes) == 1 and len(epochs) == 1:
        steps = math.ceil(total / sizes[0])
        text += f", i.e. {steps} optimizer steps per epoch and {steps * epochs[0]} over {epochs[0]} epochs"
    if len(sizes) == 1:
        text += (
            ". The sweep did not vary the batch size, so these runs cannot show whether another size does "
            "better; they only show that this size trains every cell below."
        )
    else:
        text += ". The sweep mixes batch sizes, so cells differ in batch size as well as arch and strategy."
    return text


# -- Q2: freezing vs fine-tuning -----------------------------------------------------------------
def answer_freeze(sweep: Sweep) -> list[str]:
    pairs = [(e, f) for a in sweep.archs if (e := sweep.cell(a, "extractor")) and (f := sweep.cell(a, "finetune"))]
    if not pairs:
        return ["No architecture has both an `extractor` and a `finetune` result, so the sweep cannot answer this."]
    verdicts = [verdict(e, f) for e, f in pairs]
    wins = sum(v.exceeds_noise and v.diff > 0 for v in verdicts)
    losses = sum(v.exceeds_noise and v.diff < 0 for v in verdicts)
    lines = [
        f"Freezing (`extractor`) beat fine-tuning beyond noise for {wins} of {len(pairs)} architectures, "
        f"fine-tuning beat freezing for {losses}, and {len(pairs) - wins - losses} are within noise of each other."
    ]
    lines += [_freeze_line(e, f, _train_size(sweep)) for e, f in pairs]
    lines.append(_freeze_background(sweep, [e for e, _ in pairs], wins, losses))
    return lines


def _freeze_line(ext: Cell, fin: Cell, n_train: int | None) -> str:
    v = verdict(ext, fin)
    p_e, p_f = _params(ext), _params(fin)
    text = f"- **{ext.arch}**: {describe_diff(ext, fin)}. Trainable parameters: {p_e:,} vs {p_f:,}"
    if n_train:
        text += f" for {n_train} train images ({p_f / n_train:,.0f} per image when fine-tuning)"
    g_e, g_f = _gap(ext), _gap(fin)
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
        text += (
            f"Freezing matched fine-tuning within noise while training {p_e / p_f:.2%} of the parameters"
            f" in {_mean(ext, 'wall_s') / _mean(fin, 'wall_s'):.0%} of the wall time."
        )
    return text


def _freeze_background(sweep: Sweep, extractors: list[Cell], wins: int, losses: int) -> str:
    n_train = _train_size(sweep)
    size = f"the train set is small ({n_train} images)" if n_train else "the train set is small"
    baseline = _majority_baseline(sweep)
    best = max(extractors, key=lambda c: c.estimate(KEY).mean)
    if wins:
        lead = "Why freezing won here"
    elif not losses:
        lead = "Why freezing can match fine-tuning here (this sweep shows it matching, not beating it beyond noise)"
    else:
        lead = "Why freezing was expected to compete (this sweep shows fine-tuning ahead instead)"
    text = (
        f"{lead}: {size}, and {IMAGENET_CLASSES}, so the frozen ImageNet features were trained on these very "
        f"insects; training only the new head leaves little to overfit. The best frozen result is {best.cite()}"
    )
    if baseline:
        text += f", against a majority-class baseline of {baseline[1]}/{baseline[2]} = {baseline[1] / baseline[2]:.3f}"
        text += f" (always answering `{baseline[0]}`)"
    return text + "."


# -- Q3: unfreezing the last layers ----------------------------------------------------------------
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
    text = f"- **{mixed.arch}** (`mixed` trains {what}, {_params(mixed):,} parameters): "
    if ext is None:
        return text + f"{mixed.cite()}; `extractor` was not measured, so the effect of unfreezing is unknown."
    v = verdict(mixed, ext)
    extra = _params(mixed) - _params(ext)
    if v.exceeds_noise and v.diff > 0:
        text += f"unfreezing helped: {describe_diff(mixed, ext)}; the extra {extra:,} trainable parameters paid off."
    elif v.exceeds_noise:
        text += (
            f"unfreezing hurt: {describe_diff(mixed, ext)}; the extra {extra:,} trainable parameters fitted the "
            f"train set (train−val gap {_gap(mixed):+.3f} vs {_gap(ext):+.3f}) without generalising."
        )
    else:
        text += (
            f"unfreezing did not help measurably: {describe_diff(mixed, ext)}; the extra {extra:,} trainable "
            f"parameters bought no accuracy that {mixed.runs[0].val_size or 'these'} val images can resolve."
        )
    if fin is not None:
        text += f" Against full fine-tuning: {describe_diff(mixed, fin)}."
    return text


# -- Q4: the winner -----------------------------------------------------------------------------
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
        f"Cost: {top.label} trained {_params(top):,} of {int(top.values('total_params')[0]):,} parameters "
        f"in {_mean(top, 'wall_s'):.1f} s per run."
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


# -- shared numbers --------------------------------------------------------------------------------
def _params(cell: Cell) -> int:
    return int(cell.values("trainable_params")[0])


def _mean(cell: Cell, key: str) -> float:
    values = cell.values(key)
    return sum(values) / len(values) if values else float("nan")


def _gap(cell: Cell) -> float:
    """Mean over seeds of last-epoch train accuracy minus last-epoch val accuracy."""
    gaps = [r.metrics["train_acc"][-1] - r.metrics["val_acc_last"] for r in cell.runs if r.metrics.get("train_acc")]
    return sum(gaps) / len(gaps) if gaps else float("nan")


def _train_size(sweep: Sweep) -> int | None:
    for run in sweep.ok_runs:
        if run.metrics.get("train_class_counts"):
            return sum(run.metrics["train_class_counts"].values())
    return None


def _majority_baseline(sweep: Sweep) -> tuple[str, int, int] | None:
    run = next((r for r in sweep.ok_runs if r.predictions), None)
    if run is None:
        return None
    counts: dict[str, int] = {}
    for row in run.predictions:
        counts[row["true"]] = counts.get(row["true"], 0) + 1
    label = max(counts, key=counts.__getitem__)
    return label, counts[label], len(run.predictions)
