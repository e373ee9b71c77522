"""The report says only what its numbers support: on another dataset, with other outcomes, and in power terms."""

from __future__ import annotations

import csv
import json
import math
import re

import numpy as np
import pytest

from report_fixtures import PARAMS, mcnemar_exact, section, settings_for, write_run
from tl_lightning.report import write_report
from tl_lightning.report.__main__ import main as report_main
from tl_lightning.report.paired import ALPHA, image_differences, sign_flip_p
from tl_lightning.report.power import detectable

# A second, made-up two-class dataset: no ants, no bees, 76 val images.
VAL = {"benign": 40, "malignant": 36}
TRAIN = {"benign": 90, "malignant": 77}
N = sum(VAL.values())
# (correct val images at the last epoch, last-epoch train accuracy): fine-tuning wins and the frozen net overfits
# more; unfreezing two groups hurts without a larger train−val gap; alexnet and vgg16 differ by one image.
OUTCOMES = {
    ("alexnet", "extractor"): (60, 0.99),
    ("alexnet", "finetune"): (74, 0.97),
    ("alexnet", "mixed"): (50, 0.70),
    ("vgg16", "extractor"): (62, 0.99),
    ("vgg16", "finetune"): (73, 0.96),
    ("vgg16", "mixed"): (61, 0.85),
}


def write_other_run(run_dir, arch: str, strategy: str, correct: int, train_acc: float) -> None:
    """A finished run on the second dataset; the first N − correct val images are the misclassified ones."""
    rows = [(c, i) for c, k in VAL.items() for i in range(k)]
    trainable, total = PARAMS[(arch, strategy)]
    metrics = {
        "arch": arch,
        "strategy": strategy,
        "seed": 0,
        "batch_size": 4,
        "train_class_counts": TRAIN,
        "trainable_params": trainable,
        "total_params": total,
        "wall_s": 5.0,
        "epochs": 3,
        "train_loss": [0.6, 0.4, 0.3],
        "train_acc": [0.7, 0.9, train_acc],
        "val_loss": [0.5, 0.4, 0.4],
        "val_acc": [0.6, correct / N, correct / N],
        "lr": [1e-4] * 3,
        "val_acc_best": correct / N,
        "best_epoch": 2,
        "val_acc_last": correct / N,
        "settings": settings_for(arch, strategy, steps_per_epoch=42),
    }
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    for name in ("val_predictions.csv", "val_predictions_last.csv"):
        with open(run_dir / name, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["path", "true", "pred", "prob"])
            for j, (c, i) in enumerate(rows):
                wrong = j < N - correct
                pred = ("malignant" if c == "benign" else "benign") if wrong else c
                writer.writerow([f"/nonexistent/val/{c}/{c}_{i}.png", c, pred, "0.7"])


def test_another_dataset_gets_no_hymenoptera_facts_and_no_contradicted_explanation(tmp_path):
    sweep = tmp_path / "sweep"
    for num, ((arch, strategy), (correct, train_acc)) in enumerate(OUTCOMES.items()):
        write_other_run(sweep / f"{num}_arch={arch},strategy={strategy}", arch, strategy, correct, train_acc)
    report = write_report(sweep).read_text()

    for word in (r"\bants?\b", r"\bbees?\b", r"\b153\b", "insect", "ImageNet-1k has the class"):
        assert not re.search(word, report), word
    questions = section(report, "## The assignment's questions")
    assert "none of the dataset's class names (`benign`, `malignant`) is an ImageNet-1k class name" in questions
    # Q2: fine-tuning wins and the frozen net's gap is the larger one: no overfitting argument for freezing.
    assert "Fine-tuning won for alexnet." in questions and "Freezing won" not in questions
    assert "less to overfit" not in questions and "little to overfit" not in questions
    assert "the frozen net's train−val gap is not the smaller one (alexnet +0.201 vs -0.004" in questions
    assert "Why freezing was expected to compete (this sweep shows fine-tuning ahead instead)" in questions
    assert "matched" not in report and "no effect" not in report
    # Q3: unfreezing hurt, but its train−val gap is smaller: the overfitting explanation is not given.
    assert "unfreezing hurt: alexnet/mixed" in questions
    assert "fitted the train set more" not in questions
    assert "its train−val gap is not larger (+0.042 vs +0.201), so overfitting does not explain it" in questions
    # Q4: a one-image lead is not explained.
    q4 = section(report, "### 4.")
    assert "**No clear winner**: alexnet has the highest mean under `finetune`, but is not separated from vgg16" in q4
    assert "Why:" not in q4 and "its lead" not in q4


def test_a_single_run_folder_gets_a_one_run_report(tmp_path, capsys):
    run = write_run(tmp_path / "2026-11-30_10-00-00", "alexnet", "extractor", (140, 141))
    assert report_main([str(run)]) == 0
    report = (run / "report.md").read_text()
    assert report.startswith("# Sweep report: 2026-11-30_10-00-00\n\n1 finished runs, 0 missing or failed.")
    assert "| alexnet | extractor | plain | 0 | 0.915 [0.860, 0.950] |" in report
    assert report_main([str(run)]) == 0  # its own report.md does not make it a copied report
    assert "1 finished runs" in (run / "report.md").read_text()


def test_cells_nobody_asked_for_are_not_missing(tmp_path):
    sweep = tmp_path / "sweep"
    write_run(sweep / "0_arch=alexnet,strategy=extractor", "alexnet", "extractor", (140, 141))
    write_run(sweep / "1_arch=alexnet,strategy=finetune", "alexnet", "finetune", (138, 141))
    write_run(sweep / "2_arch=vgg16,strategy=extractor", "vgg16", "extractor", (145, 146))
    report = write_report(sweep).read_text()
    assert "## Missing or failed runs" not in report and "| vgg16 | finetune |" not in report
    (sweep / "3_arch=vgg16,strategy=finetune").mkdir()  # asked for, then crashed
    report = write_report(sweep).read_text()
    assert "Cells without any finished run (shown as —): vgg16/finetune" in section(report, "## Missing or failed")


def test_shuffle_answer_says_why_the_last_batch_is_not_a_step(tmp_path):
    run = write_run(tmp_path / "sweep" / "0_run", "alexnet", "extractor", (140, 141))
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["train_class_counts"] = {"ants": 124, "bees": 121}  # 245 = 61 · 4 + 1
    (run / "metrics.json").write_text(json.dumps(metrics))
    report = write_report(tmp_path / "sweep").read_text()
    assert (
        "Cut in file order into batches of 4, that is 61 batches: the last image would form a batch of one, which "
        "the train loader drops" in report
    )
    assert "the runs recorded 61 optimizer steps per epoch" in report


def mcnemar_power(n: int, share: float, delta: float, alpha: float) -> float:
    """Reference: exact McNemar power by plain enumeration of discordant counts and their split."""
    q = (1 + delta / share) / 2
    total = 0.0
    for m in range(n + 1):
        weight = math.comb(n, m) * share**m * (1 - share) ** (n - m)
        total += weight * sum(
            math.comb(m, k) * q**k * (1 - q) ** (m - k) for k in range(m + 1) if mcnemar_exact(k, m - k) <= alpha
        )
    return total


def test_the_detectable_difference_is_where_exact_mcnemar_power_reaches_80_percent():
    n, discordant = 153, 9  # about 6 % of the images disagree
    d = np.array([1.0] * 5 + [-1.0] * 4 + [0.0] * (n - discordant))
    for alpha in (ALPHA, ALPHA / 7):
        delta = detectable(d, alpha)
        assert mcnemar_power(n, max(discordant / n, delta), delta, alpha) >= 0.8
        below = delta - 0.002
        assert mcnemar_power(n, max(discordant / n, below), below, alpha) < 0.8
    # The figure: a 4-point difference at 6 % discordance is found with power 0.41 only.
    assert mcnemar_power(n, 0.06, 0.04, ALPHA) == pytest.approx(0.41, abs=0.005)
    assert 0.04 < detectable(d, ALPHA) < 0.06


def null_runs(rng: np.random.Generator, p: np.ndarray, k: int, keep: float | None) -> list[list[bool]]:
    fresh = rng.random((k, p.size)) < p
    if keep is None:
        return fresh.tolist()
    shared = rng.random(p.size) < p
    return np.where(rng.random((k, p.size)) < keep, shared, fresh).tolist()


@pytest.mark.slow
def test_the_paired_test_keeps_its_size_under_a_simulated_null():
    """1,000 simulated datasets per design, A and B drawn alike: rejections at α = 0.05 stay at most nominal."""
    rng = np.random.default_rng(2026)
    rates = []
    for runs_a, runs_b, keep in ((1, 1, None), (3, 3, None), (3, 2, None), (3, 3, 0.8), (5, 5, 0.5)):
        rejected = 0
        for _ in range(1000):
            # 80 % easy images, the rest of varying difficulty; each run draws its correctness per image, alone
            # or (keep) copying a draw its cell shares with probability `keep`.
            p = np.where(rng.random(N) < 0.8, 0.99, rng.uniform(0.3, 0.9, N))
            d, _ = image_differences(null_runs(rng, p, runs_a, keep), null_runs(rng, p, runs_b, keep))
            rejected += sign_flip_p(d) < ALPHA
        rates.append(rejected / 1000)
    # Each design within Monte Carlo error (one-sided 95 %, ±0.011) of at most nominal; all of them together below.
    assert all(rate <= ALPHA + 1.645 * math.sqrt(ALPHA * (1 - ALPHA) / 1000) for rate in rates), rates
    assert sum(rates) / len(rates) <= ALPHA, rates
