"""What the per-run explanation (issue 19: features.png, saliency.png, feature_space, Projector) costs.

Each run is a fresh `python -m tl_lightning` process at the study's settings (experiment=study: 25 epochs,
batch 4, Adam 1e-4, StepLR) on the real data with offline weights, trainer=cpu; for every arch:strategy the
run with `explain=false` and the run with the explanation on go back to back, and the ratio of their process
wall times is the overhead (the machine's other load cancels only as far as it stays the same between them).

    python benchmarks/bench_explain.py --runs alexnet:extractor,mobilenet_v2:extractor,alexnet:mixed \
        --data ../shared/data/hymenoptera_data --weights ../shared/weights --out benchmarks/results/explain_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_run(arch: str, strategy: str, explain: bool, args: argparse.Namespace, folder: Path) -> dict:
    out = folder / f"{arch}-{strategy}-{'on' if explain else 'off'}"
    cmd = [
        sys.executable,
        "-m",
        "tl_lightning",
        "experiment=study",
        f"arch={arch}",
        f"strategy={strategy}",
        f"data.root={args.data}",
        f"arch.weights={args.weights}",
        "trainer=cpu",
        "quiet=true",
        f"hydra.run.dir={out}",
        *([] if explain else ["explain=false"]),
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    # The explanation's own time, from its log line (run/outputs/explain.py): independent of the load between runs.
    timed = re.search(r"explain: features.png, saliency.png and feature_space in ([0-9.]+) s", _log(out))
    return {
        "process_s": round(elapsed, 2),
        "wall_s": metrics["wall_s"],  # data, model, cache and fit: the explanation comes after it
        "explain_s": float(timed.group(1)) if timed else None,
        "val_acc_last": metrics["val_acc_last"],
    }


def _log(out: Path) -> str:
    path = out / "train.log"
    return path.read_text(errors="replace") if path.is_file() else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default="alexnet:extractor,mobilenet_v2:extractor,alexnet:mixed,mobilenet_v2:mixed")
    parser.add_argument("--data", required=True)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_explain_") as tmp:
        for pair in args.runs.split(","):
            arch, strategy = pair.split(":")
            off = one_run(arch, strategy, False, args, Path(tmp))
            on = one_run(arch, strategy, True, args, Path(tmp))
            row = {"arch": arch, "strategy": strategy, "off": off, "on": on}
            row["ratio"] = round(on["process_s"] / off["process_s"], 3)
            if on["explain_s"] is not None:  # the explanation against the rest of the same run
                row["explain_share"] = round(on["explain_s"] / (on["process_s"] - on["explain_s"]), 3)
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
