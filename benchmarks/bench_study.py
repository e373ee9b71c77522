"""Assignment loop vs tl_lightning, same data, same machine, one process tree.

Each run is a fresh subprocess: (a) benchmarks/assignment_loop.py, (b) `python -m tl_lightning`.
Both report wall_s = data setup + model build + training (+ caching for b); val accuracy is the best epoch's.

    python benchmarks/bench_study.py --epochs 5 --runs alexnet:extractor,alexnet:finetune,alexnet:mixed \
        --data ../shared/data/hymenoptera_data --weights-dir ../shared/weights --out benchmarks/cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WEIGHT_FILES = {"alexnet": "alexnet-imagenet-features.pth", "vgg16": "vgg16-imagenet-features.pth"}


def weights_for(arch: str, weights_dir: Path | None) -> str | None:
    path = weights_dir / WEIGHT_FILES[arch] if weights_dir and arch in WEIGHT_FILES else None
    return str(path) if path and path.is_file() else None


def run_json(cmd: list[str], timeout: float) -> tuple[dict, float]:
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, "PYTHONWARNINGS": "ignore"}
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), elapsed


def assignment(arch: str, strategy: str, args: argparse.Namespace) -> dict:
    cmd = [
        sys.executable,
        str(HERE / "assignment_loop.py"),
        "--arch",
        arch,
        "--strategy",
        strategy,
        "--epochs",
        str(args.epochs),
        "--data",
        args.data,
        "--device",
        args.device,
    ]
    if w := weights_for(arch, args.weights_dir):
        cmd += ["--weights", w]
    result, elapsed = run_json(cmd, args.timeout)
    return {**result, "process_s": round(elapsed, 2)}


def package(arch: str, strategy: str, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "tl_lightning",
            f"arch={arch}",
            f"strategy={strategy}",
            f"arch.weights={weights_for(arch, args.weights_dir) or 'none'}",
            f"data.root={args.data}",
            f"trainer.max_epochs={args.epochs}",
            f"trainer={'gpu' if args.device == 'cuda' else 'cpu'}",
            "trainer.enable_progress_bar=false",
            f"hydra.run.dir={tmp}",
            *args.override,
        ]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
        metrics = json.loads((Path(tmp) / "metrics.json").read_text())
    images = args.epochs * (244 + 153)
    return {
        "wall_s": metrics["wall_s"],
        "images_per_s": round(images / metrics["wall_s"], 1),
        "val_acc_best": metrics["val_acc_best"],
        "val_acc_last": metrics["val_acc_last"],
        "input_cache": metrics.get("input_cache"),
        "process_s": round(elapsed, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", default="alexnet:extractor,alexnet:finetune,alexnet:mixed")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--data", required=True)
    ap.add_argument("--weights-dir", type=Path, default=None)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--only", choices=["assignment", "package"], default=None)
    ap.add_argument("--out", type=Path, default=None, help="append one JSON line per run")
    ap.add_argument("override", nargs="*", help="extra Hydra overrides for the package, e.g. data.batch_size=64")
    args = ap.parse_args()

    print(
        f"{'run':24} {'a: wall s':>10} {'img/s':>7} {'acc':>6} | {'b: wall s':>10} {'img/s':>7} {'acc':>6} | {'a/b':>6}"
    )
    for run in args.runs.split(","):
        arch, strategy = run.split(":")
        row = {"arch": arch, "strategy": strategy, "epochs": args.epochs, "device": args.device}
        if args.only != "package":
            row["assignment"] = assignment(arch, strategy, args)
        if args.only != "assignment":
            row["package"] = package(arch, strategy, args)
        a, b = row.get("assignment"), row.get("package")
        if a and b:
            row["speedup"] = round(a["wall_s"] / b["wall_s"], 2)
        cells = [f"{run:24}"]
        for r in (a, b):
            cells.append(
                f"{r['wall_s']:10.1f} {r['images_per_s']:7.1f} {r['val_acc_best']:6.3f}" if r else f"{'-':>25}"
            )
        cells.append(f"{row.get('speedup', float('nan')):6.2f}")
        print(" | ".join(cells), flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
