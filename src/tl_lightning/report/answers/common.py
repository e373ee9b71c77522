"""Numbers and wording the answers share: parameters, wall time, train−val gaps, weights, augmentation regimes."""

from __future__ import annotations

from pathlib import PurePath

from tl_lightning.report.escape import code
from tl_lightning.report.groups import Cell, Sweep

IMAGENET_CLASSES = "ImageNet-1k has the classes `ant` (index 310) and `bee` (index 309)"
REGIMES = {
    "plain": "the plain (un-augmented) view of every train image each epoch",
    "fresh": "a fresh random crop and flip of every train image each epoch",
}


def params(cell: Cell) -> int:
    return int(cell.values("trainable_params")[0])


def mean(cell: Cell, key: str) -> float:
    values = cell.values(key)
    return sum(values) / len(values) if values else float("nan")


def gap(cell: Cell) -> float:
    """Mean over seeds of last-epoch train accuracy minus last-epoch val accuracy."""
    gaps = [r.metrics["train_acc"][-1] - r.metrics["val_acc_last"] for r in cell.runs if r.metrics.get("train_acc")]
    return sum(gaps) / len(gaps) if gaps else float("nan")


def train_size(sweep: Sweep) -> int | None:
    for run in sweep.ok_runs:
        if run.metrics.get("train_class_counts"):
            return sum(run.metrics["train_class_counts"].values())
    return None


def majority_baseline(sweep: Sweep) -> tuple[str, int, int] | None:
    run = next((r for r in sweep.ok_runs if r.predictions_last or r.predictions), None)
    if run is None:
        return None
    rows = run.predictions_last or run.predictions
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["true"]] = counts.get(row["true"], 0) + 1
    label = max(counts, key=counts.__getitem__)
    return label, counts[label], len(rows)


def regime_words(regime: str | None) -> str:
    if regime is None:
        return "an unrecorded augmentation regime"
    base = regime.removesuffix(" (inferred)")
    if base.startswith("views-"):
        text = f"{base.removeprefix('views-')} cached augmented views of every train image"
    else:
        text = REGIMES.get(base, f"the regime {code(base)}")
    return text + (" (inferred from input_cache)" if regime.endswith("(inferred)") else "")


def gap_caution(a: Cell, b: Cell) -> str:
    """Train accuracies on different train inputs are not like for like; say so where a gap is compared."""
    if a.regime == b.regime:
        return ""
    return (
        f" Caution: the two train accuracies come from different train inputs ({a.label} saw "
        f"{regime_words(a.regime)}, {b.label} saw {regime_words(b.regime)}), so the gaps are not like for like."
    )


def weights_argument(cells: list[Cell]) -> str:
    """What the frozen features are, per kind of weights: the ImageNet-classes argument only for ImageNet weights."""
    parts = []
    for weights in dict.fromkeys(c.weights for c in cells):
        labels = ", ".join(c.label for c in cells if c.weights == weights)
        if weights == "imagenet":
            parts.append(
                f"{IMAGENET_CLASSES} and {labels} used torchvision's ImageNet weights, so their frozen features "
                "were trained on these very insects"
            )
        elif weights == "none":
            parts.append(
                f"{labels} started from random weights (arch.weights=none): the frozen net is a random projection, "
                "and its result shows what a trained head on random features gives, not what ImageNet transfers"
            )
        elif weights is None:
            parts.append(f"the weights of {labels} are not recorded: whether their features are ImageNet's is unknown")
        else:
            parts.append(
                f"{labels} loaded the weights file {code(PurePath(weights).name)}{sha_text(cells, weights)}; "
                f"{IMAGENET_CLASSES}, which matters only if that file holds ImageNet weights"
            )
    return "; ".join(parts)


def frozen_source(cell: Cell) -> str:
    """What a frozen backbone's features are, in a few words."""
    if cell.weights == "imagenet":
        return "its frozen ImageNet features"
    if cell.weights == "none":
        return "its frozen random features (arch.weights=none), i.e. the architecture, not pretraining"
    if cell.weights is None:
        return "its frozen features (weights not recorded)"
    return f"its frozen features from {code(PurePath(cell.weights).name)} (ImageNet's only if that file holds them)"


def sha_text(cells: list[Cell], weights: str) -> str:
    shas = {c.settings.get("weights_sha256") for c in cells if c.weights == weights} - {None}
    return f" (sha256 {', '.join(str(s)[:12] for s in sorted(shas, key=str))})" if shas else ""
