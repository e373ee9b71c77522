"""CPU frozen pass: today's fp32 NCHW against channels-last and native bf16, side by side in one process.

`passes`: images/s of the package's own cache pass (run/feature_cache.capture_inputs with each
trainer.frozen_pass choice) over random 3xSxS images, the choices interleaved round by round so that a
loaded machine slows them alike; the median and spread of each choice's ratio to fp32 are printed, with
the largest difference of its cached features from fp32 (relative to their largest magnitude).

    python benchmarks/bench_cpu_fast.py passes --nets alexnet:extractor,vgg16:extractor --rounds 5

`runs`: whole processes (`python -m tl_lightning experiment=study`), today's path (trainer.frozen_pass=fp32)
and the fast path (auto) alternating, with wall_s, process seconds and peak RSS of each (os.wait4). With
`--seeds 0,1,2` repetition i runs seed i; with `--keep DIR` the run folders stay under DIR/fp32 and DIR/auto, so
that benchmarks/compare_frozen_pass.py DIR/fp32 DIR/auto tests the same runs' accuracy. Give the processes a
fresh TL_CACHE_DIR to time the first seed with the feature cache built (cold) and the later ones reusing it.

    TL_CACHE_DIR=$(mktemp -d) python benchmarks/bench_cpu_fast.py runs --runs vgg16:extractor --seeds 0,1,2 \
        --data ../shared/data/hymenoptera_data --weights-dir ../shared/weights --keep /tmp/fast22
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FILES = {
    "alexnet": "alexnet-imagenet-features.pth",
    "vgg16": "vgg16-imagenet-features.pth",
    "mobilenet_v2": "mobilenet_v2-b0353104.pth",
}
SIZES = {"alexnet": 244, "vgg16": 224, "mobilenet_v2": 224}


def passes(args: argparse.Namespace) -> None:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from tl_lightning.model import TransferLearningModule
    from tl_lightning.model.frozen_pass import choose
    from tl_lightning.run.inputs.feature_cache import capture_inputs, find_cut

    torch.manual_seed(0)
    cpu = torch.device("cpu")
    for net in args.nets.split(","):
        arch, strategy = net.split(":")
        unfreeze = 0 if strategy == "extractor" else None
        module = TransferLearningModule(arch, ["a", "b"], weights="none", unfreeze=unfreeze)
        cut = find_cut(module.model, module.spec, module.plan)
        size = SIZES[arch]
        data = TensorDataset(torch.randn(args.images, 3, size, size), torch.zeros(args.images, dtype=torch.long))
        loader = DataLoader(data, batch_size=args.batch)
        frozen = {name: choose(name, cpu, "32-true", lambda: None) for name in args.choices.split(",")}
        times: dict[str, list[float]] = {name: [] for name in frozen}
        feats = {}
        for _ in range(args.rounds + 1):  # round 0 warms up oneDNN's kernels
            for name, fp in frozen.items():
                start = time.perf_counter()
                feats[name], _ = capture_inputs(module.model, cut.tap, loader, cpu, fp)
                times[name].append(time.perf_counter() - start)
        base = [t for t in times["fp32"][1:]]
        for name in frozen:
            own = times[name][1:]
            ratios = [b / t for b, t in zip(base, own, strict=True)]
            err = float((feats[name] - feats["fp32"]).abs().max() / feats["fp32"].abs().max())
            row = {
                "net": net,
                "frozen_pass": name,
                "img_per_s": round(args.images / statistics.median(own), 1),
                "speedup_median": round(statistics.median(ratios), 2),
                "speedup_min": round(min(ratios), 2),
                "speedup_max": round(max(ratios), 2),
                "max_rel_diff": f"{err:.2e}",
                "load": os.getloadavg()[0],
            }
            print(json.dumps(row), flush=True)


def steps(args: argparse.Namespace) -> None:
    """The trained part (head, and for mixed the unfrozen layers) on cached inputs, batch 4, Adam: one
    training step's median time per option, the options interleaved round by round."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from tl_lightning.model import TransferLearningModule
    from tl_lightning.run.inputs.feature_cache import capture_inputs, find_cut

    threads = torch.get_num_threads()
    for net in args.nets.split(","):
        arch, strategy = net.split(":")
        torch.manual_seed(0)
        unfreeze = 0 if strategy == "extractor" else None
        module = TransferLearningModule(arch, ["a", "b"], weights="none", unfreeze=unfreeze)
        cut = find_cut(module.model, module.spec, module.plan)
        size = SIZES[arch]
        images = TensorDataset(torch.randn(4, 3, size, size), torch.zeros(4, dtype=torch.long))
        cached, _ = capture_inputs(module.model, cut.tap, DataLoader(images, batch_size=4), torch.device("cpu"))
        module.train()
        options = [o for o in args.options.split(",") if o != "channels_last" or cached.dim() == 4]
        fns, first = {}, {}
        for option in list(options):
            fns[option] = _step(option, cut.tail, cached, [p for p in module.parameters() if p.requires_grad])
            start = time.perf_counter()
            try:
                fns[option]()  # compile (for `compile`), oneDNN's kernel selection, Adam's state
            except Exception as err:  # noqa: BLE001 - an option that cannot run is a result too
                print(json.dumps({"net": net, "option": option, "failed": str(err).splitlines()[0][:300]}), flush=True)
                options.remove(option)
                continue
            first[option] = time.perf_counter() - start
        times: dict[str, list[float]] = {o: [] for o in options}
        for _ in range(args.rounds):
            for option in options:
                torch.set_num_threads(1 if option == "1 thread" else threads)
                start = time.perf_counter()
                for _ in range(args.steps):
                    fns[option]()
                times[option].append((time.perf_counter() - start) / args.steps)
        torch.set_num_threads(threads)
        base = statistics.median(times[options[0]])
        for option in options:
            row = {
                "net": net,
                "option": option,
                "input": list(cached.shape),
                "step_ms_median": round(1000 * statistics.median(times[option]), 3),
                "step_ms_range": [round(1000 * min(times[option]), 3), round(1000 * max(times[option]), 3)],
                "speedup": round(base / statistics.median(times[option]), 2),
                "first_step_s": round(first[option], 2),
                "threads": 1 if option == "1 thread" else threads,
                "load": os.getloadavg()[0],
            }
            print(json.dumps(row), flush=True)


def _step(option: str, tail, cached, trainable):  # noqa: ANN001, ANN202 - torch is imported lazily
    """One Adam step of the trained part as `option` runs it (a fresh optimizer per option)."""
    import torch

    x = cached.contiguous(memory_format=torch.channels_last) if option == "channels_last" else cached
    forward = torch.compile(tail) if option == "compile" else tail
    y = torch.arange(len(cached)) % 2
    opt = torch.optim.Adam(trainable, lr=1e-4)

    def step() -> None:
        loss = torch.nn.functional.cross_entropy(forward(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def run_once(arch: str, strategy: str, frozen: str, seed: int, args: argparse.Namespace) -> dict:
    weights = args.weights_dir / FILES[arch] if args.weights_dir else None
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep / frozen / f"{arch}-{strategy}-s{seed}" if args.keep else Path(tmp)
        cmd = [
            sys.executable,
            "-m",
            "tl_lightning",
            "experiment=study",
            f"arch={arch}",
            f"strategy={strategy}",
            f"seed={seed}",
            f"arch.weights={weights if weights and weights.is_file() else 'none'}",
            f"data.root={args.data}",
            f"trainer.max_epochs={args.epochs}",
            f"trainer.frozen_pass={frozen}",
            "trainer.enable_progress_bar=false",
            f"hydra.run.dir={out}",
            *args.override,
        ]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        err = proc.stderr.read() if proc.stderr else ""
        if status != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{err[-2000:]}")
        metrics = json.loads((out / "metrics.json").read_text())
    return {
        "seed": seed,
        "frozen_pass": metrics["settings"].get("frozen_pass"),
        "wall_s": metrics["wall_s"],
        "process_s": round(elapsed, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),  # KiB on Linux; the largest process of the tree
        "val_acc_last": metrics["val_acc_last"],
    }


def runs(args: argparse.Namespace) -> None:
    for run in args.runs.split(","):
        arch, strategy = run.split(":")
        rows: dict[str, list[dict]] = {"fp32": [], "auto": []}
        seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else [0] * args.reps
        for seed in seeds:
            for frozen in rows:  # alternating, so load drifts hit both
                rows[frozen].append(run_once(arch, strategy, frozen, seed, args))
        ratios = [a["process_s"] / b["process_s"] for a, b in zip(rows["fp32"], rows["auto"], strict=True)]
        summary = {
            "run": run,
            "epochs": args.epochs,
            "today": rows["fp32"],
            "fast": rows["auto"],
            "speedup_process_median": round(statistics.median(ratios), 2),
            "speedup_process_range": [round(min(ratios), 2), round(max(ratios), 2)],
            "load": os.getloadavg(),
        }
        print(json.dumps(summary), flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(summary) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("passes")
    p.add_argument("--nets", default="alexnet:extractor,vgg16:extractor,mobilenet_v2:extractor")
    p.add_argument("--choices", default="fp32,fp32+channels_last,bf16,bf16+channels_last")
    p.add_argument("--images", type=int, default=128)
    p.add_argument("--batch", type=int, default=64)  # strategy.cache_batch_size
    p.add_argument("--rounds", type=int, default=3)
    t = sub.add_parser("steps")
    t.add_argument("--nets", default="alexnet:extractor,alexnet:mixed,vgg16:mixed,mobilenet_v2:mixed")
    t.add_argument("--options", default="eager,1 thread,channels_last,compile")
    t.add_argument("--steps", type=int, default=50)
    t.add_argument("--rounds", type=int, default=5)
    r = sub.add_parser("runs")
    r.add_argument("--runs", default="vgg16:extractor,vgg16:mixed,mobilenet_v2:extractor,mobilenet_v2:mixed")
    r.add_argument("--epochs", type=int, default=25)
    r.add_argument("--reps", type=int, default=3, help="repetitions at seed 0 (without --seeds)")
    r.add_argument("--seeds", default=None, help="one repetition per seed, e.g. 0,1,2")
    r.add_argument("--keep", type=Path, default=None, help="keep the run folders under KEEP/fp32 and KEEP/auto")
    r.add_argument("--data", required=True)
    r.add_argument("--weights-dir", type=Path, default=None)
    r.add_argument("--out", type=Path, default=None, help="append one JSON line per run")
    r.add_argument("override", nargs="*", help="extra Hydra overrides, e.g. trainer=cpu is NOT wanted here")
    args = ap.parse_args()
    {"passes": passes, "steps": steps, "runs": runs}[args.mode](args)


if __name__ == "__main__":
    main()
