"""The report's figure sections: overlaid loss curves, and per run a confusion matrix and misclassified images."""

from __future__ import annotations

import re

from tl_lightning.files import refuse_links
from tl_lightning.report import plots
from tl_lightning.report.escape import md
from tl_lightning.report.groups import Sweep, variant_text
from tl_lightning.report.runs import Run

FIGURES = "report_figures"  # folder beside report.md
MISCLASSIFIED_SHOWN = 16


def clear_figures(sweep: Sweep) -> None:
    """Drop the PNGs an earlier report of this folder wrote: a figure no longer linked would pass for a result.
    Never in a linked folder (`report_figures -> ~/Pictures`): OutputFolderError before anything is deleted."""
    folder = sweep.path / FIGURES
    refuse_links(folder, sweep.path)
    for png in folder.glob("*.png"):
        if png.is_file() or png.is_symlink():  # a link is removed, never what it points to
            png.unlink()


def curves_section(sweep: Sweep) -> list[str]:
    lines = ["## Loss curves", ""]
    views = sweep.views()
    for number, view in enumerate(views):
        if len(views) > 1:
            lines += [f"### {view.name}", ""]
        suffix = f"_v{number}" if len(views) > 1 else ""
        for axis, groups, label in (("arch", view.archs, "strategy"), ("strategy", view.strategies, "arch")):
            for group in groups:
                cells = [c for c in view.cells if getattr(c, axis) == group]
                if not cells:
                    continue
                name = f"{FIGURES}/loss_{axis}_{_safe(group)}{suffix}.png"
                plots.save(plots.overlaid_curves(cells, f"{axis} = {group}", label), sweep.path / name)
                lines += [f"![loss curves, {axis} = {group}]({name})", "", _caption(cells), ""]
    return lines


def _caption(cells: list) -> str:
    """Train and val are both the main head's cross-entropy; say where the optimised loss had more in it."""
    text = "Solid: train loss, dashed: val loss, both the main output's cross-entropy, mean over seeds."
    aux = [c.label for c in cells if any(r.metrics.get("train_total_loss") for r in c.runs)]
    if aux:
        text += (
            f" The loss optimised by {', '.join(aux)} also had the auxiliary head's term "
            "(metrics.json `train_total_loss`, not plotted), so its solid curve is not all it minimised."
        )
    return text


def per_run_section(sweep: Sweep) -> list[str]:
    lines = ["## Per run: confusion matrix and misclassified val images", ""]
    stems: set[str] = set()
    for index, run in enumerate(sweep.ok_runs):
        stem = _figure_stem(run, index, stems)
        lines += [f"### {md(run.name)}", ""]
        rows, epoch = run.figure_predictions()
        if not rows:
            lines += ["No val_predictions_last.csv or val_predictions.csv in this run.", ""]
            continue
        source = "val_predictions_last.csv" if rows is run.predictions_last else "val_predictions.csv"
        lines += [f"Predictions at {epoch}, from {source}.", ""]
        classes, counts = plots.confusion_counts(rows)
        lines += ["| true \\ predicted | " + " | ".join(map(md, classes)) + " |", "|---" * (len(classes) + 1) + "|"]
        lines += [f"| {md(c)} | " + " | ".join(map(str, row)) + " |" for c, row in zip(classes, counts, strict=True)]
        variant = variant_text({k: run.settings.get(k) for k in sweep.varying})
        title = f"{run.title}{f' ({variant})' if variant else ''}, {epoch}"
        plots.save(plots.confusion_figure(rows, title), sweep.path / FIGURES / f"{stem}_confusion.png")
        lines += ["", f"![confusion matrix, {epoch}]({FIGURES}/{stem}_confusion.png)", ""]
        figure = plots.misclassified_grid(rows, title, MISCLASSIFIED_SHOWN, run.data_root)
        if figure is None:
            lines += [f"No misclassified val image at {epoch}.", ""]
            continue
        plots.save(figure, sweep.path / FIGURES / f"{stem}_misclassified.png")
        lines += [f"![misclassified, {epoch}]({FIGURES}/{stem}_misclassified.png)", ""]
    return lines


def _figure_stem(run: Run, index: int, taken: set[str]) -> str:
    """Short, link-safe file name: job dirs carry every override and can pass the 255-byte limit. Unique within
    the report: sweeps extended by several commands repeat job numbers, and runs may differ only in a setting."""
    number = run.name.split("_", 1)[0] if run.name.split("_", 1)[0].isdigit() else f"r{index}"
    stem = _safe(f"{number}_{run.arch}_{run.strategy}_seed{run.seed}")
    stem = stem if stem not in taken else f"{stem}_r{index}"
    taken.add(stem)
    return stem


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", text)[:100]
