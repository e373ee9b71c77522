"""The report's "why", shown: per arch, each strategy's features.png and saliency.png side by side (one seed),
the measured separability of the features each head reads (metrics.json `feature_space`), and the sentences
the answers cite from those numbers. Reads run folders only."""

from __future__ import annotations

import os
from urllib.parse import quote

from tl_lightning.report.groups import Cell, Sweep, variant_text
from tl_lightning.report.runs import Run
from tl_lightning.report.stats import wilson_interval

MEASURES = (("knn_acc", "k-NN"), ("probe_acc", "probe"), ("silhouette", "silhouette"))
HOW = (
    "Measured on the features each head reads (the input of the replaced head) for every train image (plain view) "
    "and val image, from the net as built (before) and at the last epoch (after): k-NN val accuracy against the "
    "train features (k = 5, cosine), the val accuracy of a logistic-regression probe fitted on the train features, "
    "and the silhouette of the val features by class (cosine; 1 = tight separate classes, 0 = overlapping)."
)


def explained_section(sweep: Sweep) -> list[str]:
    """`## Why: feature space and saliency`, per arch; empty when no run recorded a feature space."""
    if not any(_space(r) for r in sweep.ok_runs):
        return []
    lines = ["## Why: feature space and saliency", "", HOW, ""]
    for arch in sweep.archs:
        cells = [c for c in sweep.cells if c.arch == arch]
        if not cells:
            continue
        runs = [min(c.runs, key=lambda r: (r.seed is None, r.seed or 0)) for c in cells]
        lines += [f"### {arch}", "", *_table(cells), "", *_pictures(sweep, cells, runs), ""]
    return lines


def _table(cells: list[Cell]) -> list[str]:
    lines = [
        "| strategy | seeds | before: "
        + " | before: ".join(m for _, m in MEASURES)
        + " | after: "
        + " | after: ".join(m for _, m in MEASURES)
        + " |",
        "|---|---|" + "---|" * 2 * len(MEASURES),
    ]
    for cell in cells:
        spaces = [s for r in cell.runs if (s := _space(r))]
        if not spaces:
            lines.append(f"| {_label(cell)} | — | " + " | ".join(["not recorded"] * 2 * len(MEASURES)) + " |")
            continue
        values = [_mean(spaces, side, key) for side in ("before", "after") for key, _ in MEASURES]
        seeds = ", ".join(str(r.seed) for r in cell.runs if _space(r))
        lines.append(f"| {_label(cell)} | {seeds} | " + " | ".join(_fmt(v) for v in values) + " |")
    missing = [_label(c) for c in cells if not any(_space(r) for r in c.runs)]
    if missing:
        lines += [
            "",
            f"Not recorded for {', '.join(missing)} (made before explanations or with `explain=false`): "
            "`python -m tl_lightning.explain RUN_DIR` adds them.",
        ]
    return lines


def _pictures(sweep: Sweep, cells: list[Cell], runs: list[Run]) -> list[str]:
    header = "| | " + " | ".join(f"{_label(c)} (seed {r.seed})" for c, r in zip(cells, runs, strict=True)) + " |"
    lines = [header, "|---|" + "---|" * len(runs)]
    for picture, label in (("features.png", "feature space, val (before, after)"), ("saliency.png", "Grad-CAM")):
        cells_md = [_image(sweep, r, picture) for r in runs]
        lines.append(f"| {label} | " + " | ".join(cells_md) + " |")
    return lines


def _image(sweep: Sweep, run: Run, name: str) -> str:
    if run.path is None or not (run.path / name).is_file():
        return f"no {name}"
    return f"![{run.title} {name}]({quote(os.path.relpath(run.path / name, sweep.path), safe='/=,')})"


def separability_sentence(frozen: Cell | None, trained: Cell | None, what: str) -> str:
    """' The frozen features already give a linear-probe val accuracy of X; `what` moved it to Y.' from the
    recorded numbers (means over seeds), or '' when either cell has none."""
    if frozen is None or trained is None:
        return ""
    f_spaces = [s for r in frozen.runs if (s := _space(r))]
    t_spaces = [s for r in trained.runs if (s := _space(r))]
    probe_f, probe_t = _mean(f_spaces, "after", "probe_acc"), _mean(t_spaces, "after", "probe_acc")
    if probe_f is None or probe_t is None:
        return ""
    knn_f, knn_t = _mean(f_spaces, "after", "knn_acc"), _mean(t_spaces, "after", "knn_acc")
    seeds = " (means over seeds)" if max(len(f_spaces), len(t_spaces)) > 1 else ""
    weights = str(frozen.weights or "").lower()
    if weights == "none":
        source = "frozen features are random (arch.weights=none: nothing was pretrained), and they"
    else:
        source = f"frozen {'ImageNet ' if weights == 'imagenet' else 'pretrained '}features"
    n = frozen.runs[0].val_size
    moved = f" (a change of {abs(probe_t - probe_f) * n:.1f} of {n} val images)" if n else ""
    return (
        f" Separability of the features the head reads (metrics.json feature_space{seeds}; descriptive: the runs "
        "record no per-image probe predictions, so no paired test compares them): the "
        f"{source} already give a linear-probe val accuracy of {probe_f:.3f}{_wilson(probe_f, n)} (k-NN "
        f"{_fmt(knn_f)}); {what} moved it to {probe_t:.3f}{_wilson(probe_t, n)}{moved} (k-NN {_fmt(knn_t)})."
    )


def _wilson(p: float, n: int | None) -> str:
    """' [low, high]': the Wilson 95 % interval of a probe accuracy on n val images (one run's worth)."""
    if not n or not 0 <= p <= 1:
        return ""
    low, high = wilson_interval(p, n)
    return f" [Wilson 95 % {low:.3f}, {high:.3f}]"


def _label(cell: Cell) -> str:
    variant = variant_text(cell.variant)
    return cell.strategy + (f" ({variant})" if variant else "")


def _space(run: Run) -> dict | None:
    space = (run.metrics or {}).get("feature_space")
    return space if isinstance(space, dict) and isinstance(space.get("after"), dict) else None


def _mean(spaces: list[dict], side: str, key: str) -> float | None:
    values = [v for s in spaces if isinstance(s.get(side), dict) and isinstance(v := s[side].get(key), (int, float))]
    return sum(values) / len(values) if values else None


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
