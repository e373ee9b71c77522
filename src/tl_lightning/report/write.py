"""report.md and its figures: the results table, the noise comparisons, the answers, the curves."""

from __future__ import annotations

from pathlib import Path

from tl_lightning.files import atomic_open, refuse_links
from tl_lightning.report.answers.common import baseline_text
from tl_lightning.report.answers.crossval import answer_cv
from tl_lightning.report.answers.freeze import answer_freeze
from tl_lightning.report.answers.shuffle import answer_shuffle
from tl_lightning.report.answers.unfreeze import answer_mixed
from tl_lightning.report.answers.winner import answer_winner
from tl_lightning.report.classes import recall_text
from tl_lightning.report.crossval import comparisons, cv_methods
from tl_lightning.report.cvsection import cv_section
from tl_lightning.report.distinct import copies_sentence
from tl_lightning.report.escape import code, md
from tl_lightning.report.explained import explained_section
from tl_lightning.report.figures import FIGURES, clear_figures, curves_section, per_run_section
from tl_lightning.report.groups import Cell, Sweep, format_setting, load_sweep
from tl_lightning.report.power import MARGIN
from tl_lightning.report.readings import method_lines, noise_table
from tl_lightning.report.stats import Estimate

SHOWN = {"arch", "strategy", "augmentation"}  # settings with their own column
OUTPUTS = ("summary.csv", "summary.md", "report.md", FIGURES)  # what the report writes into a sweep folder


def check_outputs(sweep_dir: Path) -> None:
    """OutputFolderError before anything is written if an output is a symbolic link (a planted `summary.csv ->
    ~/thesis.txt` or `report_figures -> ~/Pictures`): the report never writes or deletes through one."""
    for name in OUTPUTS:
        refuse_links(sweep_dir / name, sweep_dir)


def write_report(sweep_dir: Path | str, margin: float = MARGIN) -> Path:
    """Write SWEEP_DIR/report.md (and its figures); return the report's path. margin: the equivalence margin."""
    sweep = load_sweep(Path(sweep_dir))
    sweep.margin = margin
    check_outputs(sweep.path)
    clear_figures(sweep)
    lines = [
        *_header(sweep),
        *_results(sweep),
        *_problems(sweep),
        *_noise(sweep),
        *cv_section(sweep),
        *_questions(sweep),
        *explained_section(sweep),
        *curves_section(sweep),
        *per_run_section(sweep),
    ]
    path = sweep.path / "report.md"
    with atomic_open(path, "w", inside=sweep.path, encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def _header(sweep: Sweep) -> list[str]:
    sizes = sorted({n for r in sweep.ok_runs if (n := r.val_size)})
    size = ", ".join(map(str, sizes)) or "unknown"
    judged = next((r for r in sweep.ok_runs if r.predictions_last and not r.settings.get("folds")), None)
    copied = ""
    if len(sizes) == 1 and judged is not None:  # one val set: how many distinct images it holds
        copied = " " + copies_sentence([row["path"] for row in judged.predictions_last or ()], judged.data_root)
    point = f" (one image = {100 / sizes[0]:.2f} accuracy points)" if len(sizes) == 1 else ""
    lines = [
        f"# Sweep report: {md(sweep.path.name)}",
        "",
        f"{len(sweep.ok_runs)} finished runs, {len(sweep.problems)} missing or failed. Val set: {size} images"
        f"{point}.{copied}",
        "",
        *([baseline, ""] if (baseline := baseline_text(sweep)) else []),
        "Runs are grouped into cells by every setting they record except the seed, so a cell never mixes two "
        "configurations; settings that take several values for one arch and strategy get their own column. "
        "Accuracies are mean ± sample std over seeds (no ± with one seed) and a Wilson 95 % interval for the val "
        "size, for display; every seed is scored on the same val images, so seeds narrow nothing.",
        "",
        *method_lines(sweep),
    ]
    old = [r.name for r in sweep.ok_runs if r.settings_source != "settings"]
    if old:
        lines += [
            f"{len(old)} run(s) predate metrics.json `settings` ({', '.join(code(n) for n in old[:5])}"
            f"{', ...' if len(old) > 5 else ''}): they are grouped by their Hydra overrides minus the seed; their "
            "weights, augmentation regime and steps per epoch are inferred from the saved config or unknown "
            "(shown as such).",
            "",
        ]
    return lines


def _results(sweep: Sweep) -> list[str]:
    extra = [k for k in sweep.varying if k not in SHOWN]
    lines = [
        "## Results",
        "",
        "| arch | strategy | "
        + "".join(f"{md(k)} | " for k in extra)
        + "augmentation | seeds | val acc, last epoch | recall per class, last epoch | val acc, best epoch | best "
        "epoch | trainable params | wall time (s) |",
        "|---|---|" + "---|" * len(extra) + "---|---|---|---|---|---|---|---|",
    ]
    for cell in sweep.cells:
        settings = [md(format_setting(k, cell.settings.get(k))) for k in extra]
        lines.append("| " + " | ".join([cell.arch, cell.strategy, *settings, *_row(cell)]) + " |")
    for label in sweep.missing():
        lines.append("| " + " | ".join([*label.split("/", 1), *["—"] * (len(extra) + 8)]) + " |")
    return [*lines, ""]


def _row(cell: Cell) -> list[str]:
    seeds = ", ".join(str(r.seed) for r in cell.runs)
    best_epochs = ", ".join(str(e) for e in cell.values("best_epoch"))
    params = sorted(set(cell.values("trainable_params")))
    wall = Estimate(tuple(cell.values("wall_s")), None)
    wall_text = f"{wall.mean:.1f}" + (f" ± {wall.std:.1f}" if wall.std is not None else "")
    return [
        cell.regime or "unrecorded",
        seeds,
        cell.estimate("val_acc_last").format(),
        recall_text(cell),
        cell.estimate("val_acc_best").format(),
        best_epochs,
        " / ".join(f"{p:,}" for p in params),
        wall_text,
    ]


def _problems(sweep: Sweep) -> list[str]:
    missing_cells = sweep.missing()
    if not sweep.problems and not missing_cells:
        return []
    lines = ["## Missing or failed runs", ""]
    lines += [f"- {code(r.name)}: {md(r.problem)}" for r in sweep.problems]
    if missing_cells:
        lines.append(f"- Cells without any finished run (shown as —): {', '.join(missing_cells)}")
    return [*lines, ""]


def _noise(sweep: Sweep) -> list[str]:
    return ["## Which differences exceed the noise", "", *noise_table(sweep), ""]


def _questions(sweep: Sweep) -> list[str]:
    sections = [
        ("1. Why shuffle the train loader, and how many images per batch?", answer_shuffle, ""),
        ("2. Why can freezing beat fine-tuning here?", answer_freeze, "Q2"),
        ("3. Did unfreezing the last layers help?", answer_mixed, "Q3"),
        ("4. Which network won, and why?", answer_winner, "Q4"),
    ]
    # Cross-validation folds answer Q2–Q4 from their cv tests only: one fold's comparison is no verdict.
    views = [v for v in sweep.views() if not any(c.settings.get("folds") is not None for c in v.cells)]
    methods = cv_methods(sweep)
    tested = comparisons(methods) if methods else []
    lines = ["## The assignment's questions", ""]
    if len(views) > 1:
        lines += ["The sweep varies settings besides arch and strategy; each answer is given per setting.", ""]
    for title, answer, asked in sections:
        lines += [f"### {title}", ""]
        if methods and (asked or not views):
            lines += [*_paragraphs(answer_cv(tested, asked) if asked else answer(sweep)), ""]
        for view in views:
            if len(views) > 1 or methods:
                lines += [f"With {view.name or 'the runs without data.folds'}:", ""]
            lines += [*_paragraphs(answer(view)), ""]
    return lines


def _paragraphs(lines: list[str]) -> list[str]:
    """Bullets stay in one list; other sentences become separate paragraphs."""
    out: list[str] = []
    for line in lines:
        if out and not (line.startswith("- ") and out[-1].startswith("- ")):
            out.append("")
        out.append(line)
    return out
