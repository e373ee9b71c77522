"""Synthetic run folders for the report tests: metrics.json and per-image predictions as the run side writes them."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

VAL = {"ants": 70, "bees": 83}  # the real hymenoptera val split: 153 images
N_VAL = sum(VAL.values())
TRAIN = {"ants": 124, "bees": 120}
PARAMS = {  # (trainable, total) per arch x strategy, as TransferLearningModule counts them for 2 classes
    ("alexnet", "extractor"): (18434, 2488130),
    ("alexnet", "finetune"): (2488130, 2488130),
    ("alexnet", "mixed"): (1493506, 2488130),
    ("vgg16", "extractor"): (50178, 14764866),
    ("vgg16", "finetune"): (14764866, 14764866),
    ("vgg16", "mixed"): (7129602, 14764866),
    ("inception_v3", "extractor"): (4098, 21789666),
    ("inception_v3", "finetune"): (24348900, 24348900),
}
# Correct val images (last epoch, best epoch) per cell; inception_v3/mixed failed.
CORRECT = {
    ("alexnet", "extractor"): (135, 138),
    ("alexnet", "finetune"): (120, 125),
    ("alexnet", "mixed"): (136, 137),
    ("vgg16", "extractor"): (145, 146),
    ("vgg16", "finetune"): (130, 134),
    ("vgg16", "mixed"): (143, 145),
    ("inception_v3", "extractor"): (140, 141),
    ("inception_v3", "finetune"): (128, 131),
}
UNFREEZE = {"extractor": 0, "finetune": 8, "mixed": 2}


def settings_for(arch: str, strategy: str, seed: int = 0, **changes: object) -> dict:
    """metrics.json `settings` of a run with the assignment's defaults."""
    cached = strategy == "extractor" or (strategy == "mixed" and arch != "inception_v3")
    settings = {
        "arch": arch,
        "strategy": strategy,
        "unfreeze": UNFREEZE[strategy],
        "weights": "imagenet",
        "weights_sha256": None,
        "head": "classifier",
        "image_size": 299 if arch == "inception_v3" else 244,
        "augmentation": "plain" if cached else "fresh",
        "input_cache": "input of classifier" if cached else "off",
        "batch_size": 4,
        "steps_per_epoch": 61,
        "optimizer": "adam",
        "lr": 1e-4,
        "scheduler": "step",
        "max_epochs": 3,
        "precision": "32-true",
        "seed": seed,
    }
    return {**settings, **changes}


def val_rows() -> list[tuple[str, int]]:
    return [(c, i) for c, k in VAL.items() for i in range(k)]


def write_predictions(path: Path, wrong: set[int]) -> None:
    """One row per val image in val order; the images whose index is in `wrong` are misclassified."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "true", "pred", "prob"])
        for j, (c, i) in enumerate(val_rows()):
            pred = ("bees" if c == "ants" else "ants") if j in wrong else c
            writer.writerow([f"/nonexistent/val/{c}/{c}_{i}.jpg", c, pred, f"{0.6 + 0.001 * j:.4f}"])


def first_bees(count: int) -> set[int]:
    """Indices of the first `count` bees: nested sets, so a better cell is right wherever a worse one is."""
    return set(range(VAL["ants"], VAL["ants"] + count))


def write_run(
    run_dir: Path,
    arch: str,
    strategy: str,
    correct: tuple[int, int],
    seed: int = 0,
    wall_s: float = 10.0,
    train_acc_last: float = 0.95,
    legacy: bool = False,
    wrong_last: set[int] | None = None,
    **changes: object,
) -> Path:
    """A finished run. legacy=True: as written before `settings` and val_predictions_last.csv existed."""
    last, best = correct[0] / N_VAL, correct[1] / N_VAL
    trainable, total = PARAMS[(arch, strategy)]
    metrics = {
        "arch": arch,
        "strategy": strategy,
        "unfreeze": UNFREEZE[strategy],
        "image_size": 224,
        "seed": seed,
        "batch_size": 4,
        "train_class_counts": TRAIN,
        "trainable_params": trainable,
        "total_params": total,
        "wall_s": wall_s,
        "epochs": 3,
        "train_loss": [0.6, 0.4, 0.3],
        "train_acc": [0.7, 0.9, train_acc_last],
        "val_loss": [0.5, 0.35, 0.4],
        "val_acc": [0.6, best, last],
        "lr": [1e-4, 1e-4, 1e-4],
        "val_acc_best": best,
        "best_epoch": 2,
        "val_acc_last": last,
    }
    if not legacy:
        metrics["settings"] = settings_for(arch, strategy, seed, **changes)
        metrics["overrides"] = [f"arch={arch}", f"strategy={strategy}", f"seed={seed}"]
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    write_predictions(run_dir / "val_predictions.csv", first_bees(N_VAL - correct[1]))
    if not legacy:
        wrong = first_bees(N_VAL - correct[0]) if wrong_last is None else wrong_last
        assert len(wrong) == N_VAL - correct[0]
        write_predictions(run_dir / "val_predictions_last.csv", wrong)
    return run_dir


def write_sweep(root: Path, correct: dict = CORRECT, seeds: tuple[int, ...] = (0,), legacy: bool = False) -> Path:
    sweep = root / "sweep"
    sweep.mkdir(parents=True)
    num = 0
    for arch in ("alexnet", "vgg16", "inception_v3"):
        for strategy in ("extractor", "finetune", "mixed"):
            for seed in seeds:
                suffix = f",seed={seed}" if len(seeds) > 1 else ""
                run_dir = sweep / f"{num}_arch={arch}{suffix},strategy={strategy}"
                if (arch, strategy) in correct:
                    k = correct[(arch, strategy)]
                    write_run(run_dir, arch, strategy, k[seed] if isinstance(k, list) else k, seed, legacy=legacy)
                else:
                    (run_dir / ".hydra").mkdir(parents=True)  # started, then crashed
                num += 1
    return sweep


def section(report: str, title: str) -> str:
    start = report.index(title)
    end = report.find("\n## ", start + 1)
    return report[start : end if end > 0 else None]


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Reference: two-sided exact McNemar p on the discordant images (a_only favour A, b_only B), in integers."""
    n = a_only + b_only
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(min(a_only, b_only) + 1)) / 2**n)
