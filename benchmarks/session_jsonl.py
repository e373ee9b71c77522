"""One JSON line per measured sweep, for gpu_session.sh: the runs that finished and the sweep's elapsed time.

    python benchmarks/session_jsonl.py package NAME SWEEP_DIR ELAPSED_S RC [key=value ...]    # a package sweep
    python benchmarks/session_jsonl.py assignment NAME ELAPSED_S RC RUN.json ... [key=value ...]  # loop runs

A sweep stopped by its deadline still reports the runs whose metrics.json exists (`runs` < 9 then).
`sum_wall_s` adds the runs' own wall_s (data setup + model build + training): for serial runs, the
sweep's training time without process start-up, imports and reporting; `elapsed_s` is the whole command.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

KEYS = ("arch", "strategy", "batch_size", "wall_s", "val_acc_best", "val_acc_last", "input_cache")


def package_runs(sweep_dir: Path) -> list[dict]:
    runs = []
    for path in sorted(sweep_dir.glob("*/metrics.json")):
        metrics = json.loads(path.read_text())
        runs.append({k: metrics.get(k) for k in KEYS})
    return runs


def assignment_runs(files: list[str]) -> list[dict]:
    runs = []
    for name in files:
        lines = Path(name).read_text().strip().splitlines() if Path(name).is_file() else []
        if lines:  # a run stopped by the deadline printed nothing
            runs.append(json.loads(lines[-1]))
    return runs


def main(argv: list[str]) -> None:
    kind, name, *rest = argv
    extra = dict(a.split("=", 1) for a in rest if "=" in a and not a.endswith(".json"))
    rest = [a for a in rest if a not in {f"{k}={v}" for k, v in extra.items()}]
    if kind == "package":
        sweep_dir, elapsed, rc = rest[:3]
        runs = package_runs(Path(sweep_dir))
    else:
        elapsed, rc, *files = rest
        runs = assignment_runs(files)
    row = {"name": name, "kind": kind, "elapsed_s": float(elapsed), "rc": int(rc), **extra}
    row |= {"runs": len(runs), "sum_wall_s": round(sum(r["wall_s"] for r in runs), 2), "per_run": runs}
    print(json.dumps(row))


if __name__ == "__main__":
    main(sys.argv[1:])
