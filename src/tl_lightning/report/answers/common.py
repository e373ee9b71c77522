"""Numbers and wording the answers share: parameters, wall time, train−val gaps, weights, augmentation regimes."""

from __future__ import annotations

from functools import cache
from pathlib import Path, PurePath

from tl_lightning.report.escape import code
from tl_lightning.report.groups import Cell, Sweep

# torchvision's ImageNet-1k class names, one a line in index order (torchvision.models._meta._IMAGENET_CATEGORIES)
IMAGENET_FILE = Path(__file__).resolve().parent.parent / "imagenet_classes.txt"
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
    """(largest class, its images, all images) of the judged images: the val set, or with data.folds every
    labelled image the folds judged (each image once, by its path)."""
    labels: dict[str, str] = {}
    for run in sweep.ok_runs:
        for row in run.predictions_last or run.predictions:
            labels.setdefault(row.get("image") or row["path"], row["true"])
    if not labels:
        return None
    counts: dict[str, int] = {}
    for label in labels.values():
        counts[label] = counts.get(label, 0) + 1
    label = max(counts, key=counts.__getitem__)
    return label, counts[label], len(labels)


def baseline_text(sweep: Sweep) -> str:
    """The report header's majority-class baseline, '' when no run has predictions."""
    baseline = majority_baseline(sweep)
    if baseline is None:
        return ""
    label, count, total = baseline
    where = "labelled images the folds judged" if any(r.settings.get("folds") for r in sweep.ok_runs) else "val images"
    return (
        f"Majority-class baseline: always answering {code(label)} scores {count}/{total} = {count / total:.3f} on "
        f"the {where}."
    )


def class_names(sweep: Sweep) -> list[str]:
    """The dataset's class names as the runs recorded them (train class counts, else the val labels)."""
    for run in sweep.root.ok_runs:
        if run.metrics.get("train_class_counts"):
            return sorted(map(str, run.metrics["train_class_counts"]))
    run = next((r for r in sweep.root.ok_runs if r.predictions_last or r.predictions), None)
    return sorted({row["true"] for row in (run.predictions_last or run.predictions)}) if run else []


@cache
def imagenet_classes() -> dict[str, int]:
    names = IMAGENET_FILE.read_text().splitlines()
    return {name.lower(): i for i, name in enumerate(names)}


def imagenet_match(name: str) -> tuple[str, int] | None:
    """The ImageNet-1k class a dataset class name is (as written, or as a plural: `ants` → `ant`), if any."""
    base = name.lower().replace("_", " ").replace("-", " ").strip()
    for candidate in (base, base.removesuffix("s"), base.removesuffix("es")):
        if candidate in imagenet_classes():
            return candidate, imagenet_classes()[candidate]
    return None


def imagenet_fact(sweep: Sweep) -> str | None:
    """ "ImageNet-1k has the classes ..." for the dataset's class names that are ImageNet class names; None if none."""
    names = class_names(sweep)
    matches = [(n, m) for n in names if (m := imagenet_match(n))]
    if not matches:
        return None
    listed = " and ".join(f"{code(m[0])} (index {m[1]})" for _, m in matches)
    text = f"ImageNet-1k has the class{'es' if len(matches) > 1 else ''} {listed}"
    others = [n for n in names if not imagenet_match(n)]
    if others:
        verb = "is not an ImageNet-1k class name" if len(others) == 1 else "are not ImageNet-1k class names"
        text += f" (the dataset's {', '.join(code(n) for n in others)} {verb})"
    return text


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


def weights_argument(sweep: Sweep, cells: list[Cell]) -> str:
    """What the frozen features are, per kind of weights; the ImageNet-classes fact only where the dataset's class
    names are ImageNet class names and only for ImageNet weights (outright) or a file (conditionally)."""
    fact = imagenet_fact(sweep)
    names = ", ".join(code(n) for n in class_names(sweep)) or "unrecorded"
    parts = []
    for weights in dict.fromkeys(c.weights for c in cells):
        labels = ", ".join(c.label for c in cells if c.weights == weights)
        if weights == "imagenet":
            parts.append(
                f"{fact}, and {labels} used torchvision's ImageNet weights, so their frozen features were trained "
                "on these very classes"
                if fact
                else f"{labels} used torchvision's ImageNet weights; none of the dataset's class names ({names}) is "
                "an ImageNet-1k class name"
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
                f"{labels} loaded the weights file {code(PurePath(weights).name)}{sha_text(cells, weights)}"
                + (f"; {fact}, which matters only if that file holds ImageNet weights" if fact else "")
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
