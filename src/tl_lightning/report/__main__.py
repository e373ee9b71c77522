"""Write the report of a sweep dir (also of a partial or killed sweep).

    python -m tl_lightning.report SWEEP_DIR [--margin POINTS]

writes SWEEP_DIR/summary.csv, summary.md, report.md and report_figures/ from the runs' metrics.json,
val_predictions_last.csv, val_predictions.csv, failure.txt and .hydra/ folders. Needs no GPU and no torch.
SWEEP_DIR may also be one run's own folder: the report then covers that run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tl_lightning.errors import UserError
from tl_lightning.report.groups import is_job_dir
from tl_lightning.report.power import MARGIN
from tl_lightning.report.summary import write_summary
from tl_lightning.report.write import write_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tl_lightning.report",
        description=__doc__.split("\n\n")[0],
        epilog=(
            "Writes SWEEP_DIR/summary.csv, summary.md, report.md and report_figures/ from the runs' metrics.json,\n"
            "val_predictions.csv and .hydra/ folders. Needs no GPU and no torch.\n\n"
            "examples:\n"
            "  python -m tl_lightning.report outputs/multirun/2026-11-28_10-00-00\n"
            "  python -m tl_lightning.report outputs/multirun/2026-11-28_10-00-00 --margin 1\n"
            "  python -m tl_lightning.report outputs/runs/2026-11-28_10-00-00   (one run)"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "sweep_dir", help="a multirun folder (outputs/multirun/<time>) holding one folder per run, or one run's folder"
    )
    parser.add_argument(
        "--margin",
        type=float,
        default=MARGIN * 100,
        help="equivalence margin in accuracy points: two cells are called equivalent only when the TOST "
        f"equivalence test puts their difference within ±margin (default {MARGIN * 100:g})",
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not 0 < args.margin < 100:
        print(f"error: --margin {args.margin:g}: give a margin in accuracy points between 0 and 100", file=sys.stderr)
        return 2
    sweep_dir = Path(args.sweep_dir)
    one_run = (sweep_dir / "metrics.json").is_file()
    if (sweep_dir / "report.md").is_file() and not one_run and not any(is_job_dir(d) for d in sweep_dir.iterdir()):
        # e.g. docs/study: a copied report whose runs live elsewhere; rewriting it would leave an empty report
        print(
            f"error: {sweep_dir} holds a report.md but no run folders; give the sweep folder the runs are in.",
            file=sys.stderr,
        )
        return 2
    runs_here = one_run or (sweep_dir / "multirun.yaml").is_file() or (sweep_dir / ".hydra").is_dir()
    if sweep_dir.is_dir() and not runs_here and not any(is_job_dir(d) for d in sweep_dir.iterdir()):
        # e.g. a data folder given by mistake: a report and summaries written into it would be litter
        print(
            f"error: {sweep_dir} holds no run folders, so no report was written; give a sweep or run folder.",
            file=sys.stderr,
        )
        return 2
    try:
        write_summary(args.sweep_dir)
        path = write_report(args.sweep_dir, margin=args.margin / 100)
    except (FileNotFoundError, UserError) as err:  # UserError: an output is a symbolic link, the disk is full
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"Sweep report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
