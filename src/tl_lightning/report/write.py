"""report.md and its figures: the results table, the noise comparisons, the answers, the curves."""

from __future__ import annotations

import re
from pathlib import Path

from tl_lightning.report import plots
from tl_lightning.report.answers.freeze import answer_freeze
from tl_lightning.report.answers.shuffle import answer_shuffle
from tl_lightning.report.answers.unfreeze import answer_mixed
from tl_lightning.report.answers.winner import answer_winner
from tl_lightning.report.noise import noise_table
from tl_lightning.report.runs import Cell, Run, Sweep, load_sweep
from tl_lightning.report.stats import Estimate

FIGURES = "report_figures"  # folder beside report.md
MISCLASSIFIED_SHOWN = 16


def write_report(sweep_dir: Path | str) -> Path:
    """Write SWEEP_DIR/report.md (and its figures); return the report's path."""
    sweep = load_sweep(Path(sweep_dir))
    lines = [
        *_header(sweep),
        *_results(sweep),
        *_problems(sweep),
        *_noise(sweep),
        *_questions(sweep),
        *_curves(sweep),
        *_per_run(sweep),
    ]
    path = sweep.path / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _header(sweep: Sweep) -> list[str]:
    sizes = sorted({n for r in sweep.ok_runs if (n := r.val_size)})
    size = ", ".join(map(str, sizes)) or "unknown"
    point = f" (one image = {100 / sizes[0]:.2f} accuracy points)" if len(sizes) == 1 else ""
    return [
        f"# Sweep report: {sweep.path.name}",
        "",
        f"{len(sweep.ok_runs)} finished runs, {len(sweep.problems)} missing or failed. Val set: {size} images{point}.",
        "",
        "Accuracies are mean ± sample std over seeds (no ± with one seed) and a Wilson 95 % interval for the "
        "val size; every seed is scored on the same val images, so seeds narrow nothing. A difference counts as "
        "beyond noise only if the two intervals are disjoint and, with seeds, it exceeds 2 × the larger seed std. "
        "Comparisons use the last epoch, which was not selected on the val images.",
        "",
    ]


def _results(sweep: Sweep) -> list[str]:
    lines = [
        "## Results",
        "",
        "| arch | strategy | seeds | val acc, last epoch | val acc, best epoch | best epoch | trainable params "
        "| wall time (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (arch, strategy), cell in sweep.cells.items():
        lines.append(f"| {arch} | {strategy} | " + " | ".join(_row(cell)) + " |")
    return [*lines, ""]


def _row(cell: Cell) -> list[str]:
    if not cell.measured:
        return ["—"] * 6
    seeds = ", ".join(str(r.seed) for r in cell.runs)
    best_epochs = ", ".join(str(e) for e in cell.values("best_epoch"))
    params = sorted(set(cell.values("trainable_params")))
    wall = Estimate(tuple(cell.values("wall_s")), None)
    wall_text = f"{wall.mean:.1f}" + (f" ± {wall.std:.1f}" if wall.std is not None else "")
    return [
        seeds,
        cell.estimate("val_acc_last").format(),
        cell.estimate("val_acc_best").format(),
        best_epochs,
        " / ".join(f"{p:,}" for p in params),
        wall_text,
    ]


def _problems(sweep: Sweep) -> list[str]:
    missing_cells = [c.label for c in sweep.cells.values() if not c.measured]
    if not sweep.problems and not missing_cells:
        return []
    lines = ["## Missing or failed runs", ""]
    lines += [f"- `{r.name}`: {r.problem}" for r in sweep.problems]
    if missing_cells:
        lines.append(f"- Cells without any finished run (shown as —): {', '.join(missing_cells)}")
    return [*lines, ""]


def _noise(sweep: Sweep) -> list[str]:
    return ["## Which differences exceed the noise", "", *noise_table(sweep), ""]


def _questions(sweep: Sweep) -> list[str]:
    sections = [
        ("1. Why shuffle the train loader, and how many images per batch?", answer_shuffle),
        ("2. Why can freezing beat fine-tuning here?", answer_freeze),
        ("3. Did unfreezing the last layers help?", answer_mixed),
        ("4. Which network won, and why?", answer_winner),
    ]
    lines = ["## The assignment's questions", ""]
    for title, answer in sections:
        lines += [f"### {title}", "", *_paragraphs(answer(sweep)), ""]
    return lines


def _paragraphs(lines: list[str]) -> list[str]:
    """Bullets stay in one list; other sentences become separate paragraphs."""
    out: list[str] = []
    for line in lines:
        if out and not (line.startswith("- ") and out[-1].startswith("- ")):
            out.append("")
        out.append(line)
    return out


def _curves(sweep: Sweep) -> list[str]:
    lines = ["## Loss curves", ""]
    for axis, groups, label in (("arch", sweep.archs, "strategy"), ("strategy", sweep.strategies, "arch")):
        for group in groups:
            cells = [c for c in sweep.cells.values() if getattr(c, axis) == group and c.measured]
            if not cells:
                continue
            name = f"{FIGURES}/loss_{axis}_{group}.png"
            plots.save(plots.overlaid_curves(cells, f"{axis} = {group}", label), sweep.path / name)
            lines += [f"![loss curves, {axis} = {group}]({name})", ""]
    return lines


def _per_run(sweep: Sweep) -> list[str]:
    lines = ["## Per run: confusion matrix and misclassified val images", ""]
    for index, run in enumerate(sweep.ok_runs):
        stem = _figure_stem(run, index)
        lines += [f"### {run.name}", ""]
        if not run.predictions:
            lines += ["No val_predictions.csv in this run.", ""]
            continue
        classes, counts = plots.confusion_counts(run)
        lines += ["| true \\ predicted | " + " | ".join(classes) + " |", "|---" * (len(classes) + 1) + "|"]
        lines += [f"| {c} | " + " | ".join(map(str, row)) + " |" for c, row in zip(classes, counts, strict=True)]
        plots.save(plots.confusion_figure(run), sweep.path / FIGURES / f"{stem}_confusion.png")
        lines += ["", f"![confusion matrix]({FIGURES}/{stem}_confusion.png)", ""]
        figure = plots.misclassified_grid(run, MISCLASSIFIED_SHOWN)
        if figure is None:
            lines += ["No misclassified val image.", ""]
            continue
        plots.save(figure, sweep.path / FIGURES / f"{stem}_misclassified.png")
        lines += [f"![misclassified]({FIGURES}/{stem}_misclassified.png)", ""]
    return lines


def _figure_stem(run: Run, index: int) -> str:
    """Short, link-safe file name: job dirs carry every override and can pass the 255-byte limit."""
    number = run.name.split("_", 1)[0] if run.name.split("_", 1)[0].isdigit() else f"r{index}"
    return re.sub(r"[^A-Za-z0-9_.-]", "-", f"{number}_{run.arch}_{run.strategy}_seed{run.seed}")
