"""The feature store's targets (issue 28): whole sweep commands, today's main against this checkout, side by side.

Each side runs the same `python -m tl_lightning -m ...` command in its own process with its own empty
TL_CACHE_DIR (`--base SRC` is the src/ folder of the older checkout, e.g. a `git worktree add --detach
/tmp/base 8f58632`); then this checkout runs the command again on its now warm store. Every job's
val_predictions_last.csv is compared byte for byte between the sides, and each row records the CPU model, its
vector flags, the load average and both commits.

    python benchmarks/bench_feature_store.py --base /tmp/base/src --data ../shared/data/hymenoptera_data \\
        --weights ../shared/weights --out benchmarks/results/feature_store.jsonl \\
        cv       # 5x2 cv of VGG16 extractor, 10 epochs (target: >= 3x, identical predictions)
    ... seeds    # VGG16 and MobileNetV2 x extractor and mixed x seeds 0-2, 25 epochs (target: >= 1.5x)
    ... seeds-extractor  # the extractor half of `seeds`
    ... seeds-mixed      # the mixed half of `seeds`
    ... startup  # `python -m tl_lightning --help` and a run's time to its first training batch
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
SRC = HERE.parent / "src"
SWEEPS = {
    "cv": ["arch=vgg16", "strategy=extractor", "trainer.max_epochs=10", "data.folds=2", "data.fold=0,1",
           "data.split_seed=0,1,2,3,4"],
    "seeds": ["arch=vgg16,mobilenet_v2", "strategy=extractor,mixed", "seed=0,1,2", "trainer.max_epochs=25"],
    "seeds-extractor": ["arch=vgg16,mobilenet_v2", "strategy=extractor", "seed=0,1,2", "trainer.max_epochs=25"],
    "seeds-mixed": ["arch=vgg16,mobilenet_v2", "strategy=mixed", "seed=0,1,2", "trainer.max_epochs=25"],
}  # fmt: skip


def cpu() -> dict:
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    flags = {k.strip(): v.split() for k, v in fields.items() if k.strip() == "flags"}.get("flags", [])
    model = next((v.strip() for k, v in fields.items() if k.strip() == "model name"), "unknown")
    vector = sorted(f for f in flags if f.startswith(("avx", "amx")) or f in ("fma", "f16c"))
    return {"cpu": model, "flags": vector, "cores": os.cpu_count()}


def commit(src: Path) -> str:
    out = subprocess.run(["git", "-C", str(src), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def sweep(src: Path, overrides: list[str], args: argparse.Namespace, cache: Path, folder: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src), "TL_CACHE_DIR": str(cache)}
    cmd = [sys.executable, "-m", "tl_lightning", "-m", *overrides, "trainer=cpu", f"data.root={args.data}",
           f"arch.weights={args.weights}", "quiet=true", f"hydra.sweep.dir={folder}"]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    runs = {}
    for metrics in sorted(folder.glob("*/metrics.json")):
        data = json.loads(metrics.read_text())
        runs[metrics.parent.name] = {"wall_s": data["wall_s"], "val_acc_last": data["val_acc_last"],
                                     "feature_store": data.get("feature_store")}  # fmt: skip
    return {"elapsed_s": round(elapsed, 1), "runs": runs}


def compare(name: str, args: argparse.Namespace) -> dict:
    overrides = SWEEPS[name] + args.override
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        load_before = os.getloadavg()
        today = sweep(args.base, overrides, args, tmp / "cache-base", tmp / "base")
        cold = sweep(SRC, overrides, args, tmp / "cache", tmp / "new")
        skipped = {"elapsed_s": None, "runs": {}}
        warm = sweep(SRC, overrides, args, tmp / "cache", tmp / "warm") if args.warm else skipped
        same = {
            job: (tmp / "base" / job / "val_predictions_last.csv").read_bytes()
            == (tmp / side / job / "val_predictions_last.csv").read_bytes()
            for side in ("new", "warm")[: 1 + args.warm]
            for job in today["runs"]
        }
    store_s = [r["feature_store"]["seconds"] for r in warm["runs"].values() if r["feature_store"]]
    return {
        "bench": name,
        "overrides": overrides,
        **cpu(),
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "base_commit": commit(args.base),
        "commit": commit(SRC),
        "today_s": today["elapsed_s"],
        "cold_s": cold["elapsed_s"],
        "warm_s": warm["elapsed_s"],
        "speedup_cold": round(today["elapsed_s"] / cold["elapsed_s"], 2),
        "predictions_identical": all(same.values()),
        "jobs": len(today["runs"]),
        "warm_frozen_pass_s_max": max(store_s, default=None),
        "today": today["runs"],
        "cold": cold["runs"],
        "warm": warm["runs"],
    }


def first_batch_s(src: Path, args: argparse.Namespace) -> float:
    """Process start to the first training batch of a 1-epoch AlexNet finetune run: imports, data, model and
    trainer, without a frozen pass (the store's own effect is measured by the sweeps)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), str(HERE)]), "TL_CACHE_DIR": args.cache}
        mark = Path(tmp) / "first-batch"
        env["TL_BENCH_MARK"] = str(mark)
        cmd = [sys.executable, "-m", "tl_lightning", "arch=alexnet", "strategy=finetune", "trainer=cpu",
               "trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.limit_val_batches=2",
               f"data.root={args.data}", f"arch.weights={args.weights}", "explain=false", "quiet=true",
               f"hydra.run.dir={tmp}/run", "+callbacks.mark._target_=first_batch.FirstBatch"]  # fmt: skip
        start = time.time()
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        return round(float(mark.read_text()) - start, 2)


def startup(args: argparse.Namespace) -> dict:
    rows: dict[str, dict[str, list[float]]] = {"today": {"help_s": [], "first_batch_s": []}, "new": {"help_s": [],
                                               "first_batch_s": []}}  # fmt: skip
    for _ in range(args.reps):
        for side, src in (("today", args.base), ("new", SRC)):  # alternating, so load drifts hit both
            env = {**os.environ, "PYTHONPATH": str(src)}
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "tl_lightning", "--help"], env=env, check=True, capture_output=True)
            rows[side]["help_s"].append(round(time.perf_counter() - start, 2))
            rows[side]["first_batch_s"].append(first_batch_s(src, args))
    return {"bench": "startup", **cpu(), "load": os.getloadavg(), "base_commit": commit(args.base),
            "commit": commit(SRC), **rows}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bench", choices=[*SWEEPS, "startup"])
    ap.add_argument("--base", type=Path, required=True, help="src/ of today's main (a worktree)")
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--weights", type=Path, required=True)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--cache", default=tempfile.mkdtemp(prefix="bench-store-"))
    ap.add_argument("--override", nargs="*", default=[], help="more overrides for both sides")
    ap.add_argument("--no-warm", dest="warm", action="store_false", help="skip the warm-store sweep")
    args = ap.parse_args()
    row = startup(args) if args.bench == "startup" else compare(args.bench, args)
    runs = ("today", "cold", "warm") if args.bench != "startup" else ()  # per-job rows: only in --out
    print(json.dumps({k: v for k, v in row.items() if k not in runs}), flush=True)
    if args.out:
        with open(args.out, "a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
