"""Q1: why shuffle the train loader, and how many images per batch."""

from __future__ import annotations

import math

from tl_lightning.report.answers.mechanisms import batchnorm_text, optimizer_text
from tl_lightning.report.escape import code
from tl_lightning.report.groups import Sweep
from tl_lightning.report.runs import Run


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
        lines += [_shuffle_effect(counts, source, b, runs) for b in sizes]
    lines.append(_batch_size_line(sizes, runs))
    return lines


def _class_order_lines(runs: list[Run]) -> list[str]:
    run = next((r for r in runs if r.predictions), None)
    if run is None:
        return ["No val_predictions.csv was found, so the file order cannot be shown from the runs."]
    blocks = _blocks([row["true"] for row in run.predictions])
    spans = ", ".join(f"rows {s}–{e} are {code(c)}" for c, s, e in blocks)
    return [
        f"ImageFolder lists images class by class, in sorted folder order. The {len(run.predictions)} val "
        f"images of {code(run.name)} (val_predictions.csv, loader order) show it: {spans}."
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


def _shuffle_effect(counts: dict[str, int], source: str, batch: int, runs: list[Run]) -> str:
    total = sum(counts.values())
    # The train loaders' rule (data.seeding.drop_last): a last batch of one image is dropped.
    dropped = source == "train set" and total > 1 and total % batch == 1
    sizes = [min(batch, total - i) for i in range(0, total - (1 if dropped else 0), batch)]
    n_batches = len(sizes)
    ordered = [c for c, k in counts.items() for _ in range(k)]
    single = sum(len(set(ordered[i : i + s])) == 1 for i, s in zip(range(0, total, batch), sizes, strict=False))
    expected = sum(_p_single_class(counts, s) for s in sizes)
    listing = ", ".join(f"{code(c)} {k}" for c, k in counts.items())
    mixed = "so most steps see both classes" if expected < n_batches / 2 else "still many, at this batch size"
    cut = f"{n_batches} batches"
    if dropped:
        cut = (
            f"{n_batches} batches: the last image would form a batch of one, which the train loader drops (its rule "
            f"for every run, since one image breaks a BatchNorm layer that trains: {batchnorm_text(runs)}; shuffled, "
            "a different image sits out each epoch)"
        )
    steps = f"{optimizer_text(runs)} steps"
    return (
        f"The {source} holds {listing} ({total} images). Cut in file order into batches of {batch}, that is "
        f"{cut}. Unshuffled, {single} of {n_batches} batches would hold a single class, the whole "
        f"{code(ordered[0])} block first: consecutive {steps} would each push toward one class and the epoch would "
        f"end on a run of {code(ordered[-1])} steps. Shuffled, a batch is single-class only by chance: "
        f"{expected:.1f} of {n_batches} expected, {mixed}, and the classes interleave across steps. That is why "
        f"the train loader shuffles (the val loader need not: accuracy does not depend on order)."
    )


def _p_single_class(counts: dict[str, int], size: int) -> float:
    """Probability that `size` images drawn without replacement all share one class."""
    total = sum(counts.values())
    return sum(math.comb(k, size) for k in counts.values()) / math.comb(total, size)


def _batch_size_line(sizes: list[int], runs: list[Run]) -> str:
    used = ", ".join(str(s) for s in sizes)
    text = f"Images per batch: {used} (data.batch_size of the finished runs)"
    # Steps come from the loader the run measured: cached views, drop_last or DDP change ceil(n / b).
    steps = sorted({s for r in runs if _is_count(s := r.settings.get("steps_per_epoch"))})
    unrecorded = sum(not _is_count(r.settings.get("steps_per_epoch")) for r in runs)
    epochs = sorted({r.metrics["epochs"] for r in runs})
    if steps and len(steps) == 1 and len(epochs) == 1 and not unrecorded:
        text += (
            f"; the runs recorded {steps[0]} optimizer steps per epoch (steps_per_epoch, measured from the train "
            f"loader), {steps[0] * epochs[0]} over {epochs[0]} epochs"
        )
    elif steps:
        text += f"; the runs recorded {', '.join(map(str, steps))} optimizer steps per epoch (steps_per_epoch)"
    if unrecorded:
        text += f"; the optimizer steps per epoch of {unrecorded} run(s) are not recorded (no settings.steps_per_epoch)"
    if len(sizes) == 1:
        text += (
            ". The sweep did not vary the batch size, so these runs cannot show whether another size does "
            "better; they only show that this size trains every cell below."
        )
    else:
        text += ". The sweep varies the batch size; cells with different batch sizes are reported apart."
    return text


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
