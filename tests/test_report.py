"""Sweep report on synthetic sweep dirs with fixed metrics, and on one real tiny run."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from tl_lightning.model.module import TransferLearningModule
from tl_lightning.report import write_report
from tl_lightning.report.__main__ import main as report_main
from tl_lightning.report.answers.freeze import answer_freeze
from tl_lightning.report.runs import load_sweep
from tl_lightning.report.stats import Estimate, compare, wilson_interval
from tl_lightning.run.sweep import SweepSummary
from tl_lightning.run.train import train

VAL = {"ants": 70, "bees": 83}  # the real hymenoptera val split: 153 images
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


def write_run(
    run_dir: Path,
    arch: str,
    strategy: str,
    correct: tuple[int, int],
    seed: int = 0,
    wall_s: float = 10.0,
    train_acc_last: float = 0.95,
) -> Path:
    """A finished run's metrics.json and val_predictions.csv (written by the best epoch's model)."""
    n = sum(VAL.values())
    last, best = correct[0] / n, correct[1] / n
    trainable, total = PARAMS[(arch, strategy)]
    metrics = {
        "arch": arch,
        "strategy": strategy,
        "unfreeze": {"extractor": 0, "finetune": 8, "mixed": 2}[strategy],
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
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    wrong = n - correct[1]
    with open(run_dir / "val_predictions.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "true", "pred", "prob"])
        rows = [(c, i) for c, k in VAL.items() for i in range(k)]
        for j, (c, i) in enumerate(rows):
            # The first `wrong` bees are misclassified as ants.
            pred = "ants" if c == "bees" and i < wrong else c
            writer.writerow([f"/nonexistent/val/{c}/{c}_{i}.jpg", c, pred, f"{0.6 + 0.001 * j:.4f}"])
    return run_dir


def write_sweep(root: Path, correct: dict = CORRECT, seeds: tuple[int, ...] = (0,)) -> Path:
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
                    write_run(run_dir, arch, strategy, k[seed] if isinstance(k, list) else k, seed)
                else:
                    (run_dir / ".hydra").mkdir(parents=True)  # started, then crashed
                num += 1
    return sweep


def section(report: str, title: str) -> str:
    start = report.index(title)
    end = report.find("\n## ", start + 1)
    return report[start : end if end > 0 else None]


# -- statistics ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("arch", "strategy"), sorted(PARAMS))
def test_the_parameter_fixture_matches_the_module(arch, strategy):
    unfreeze = {"extractor": 0, "finetune": "all", "mixed": None}[strategy]
    with torch.device("meta"):  # layout only: no memory, no init
        module = TransferLearningModule(arch, list(VAL), weights="none", unfreeze=unfreeze, image_size=299)
    assert module.param_counts == PARAMS[(arch, strategy)]


def test_wilson_interval_matches_reference_values_and_the_score_test_definition():
    assert wilson_interval(0.5, 10) == pytest.approx((0.236593, 0.763407), abs=1e-6)
    assert wilson_interval(0.0, 10) == pytest.approx((0.0, 0.277533), abs=1e-6)
    # The interval's ends are where the score statistic |p̂ - p| / sqrt(p(1-p)/n) equals z.
    p_hat, n = 140 / 153, 153
    for end in wilson_interval(p_hat, n):
        assert abs(p_hat - end) / math.sqrt(end * (1 - end) / n) == pytest.approx(1.959964, abs=1e-5)
    with pytest.raises(ValueError, match="n=0"):
        wilson_interval(0.5, 0)


def test_noise_rule_needs_disjoint_intervals_and_a_difference_beyond_twice_the_seed_std():
    n = 153
    high, low = Estimate((0.95,), n), Estimate((0.80,), n)
    assert compare(high, low).exceeds_noise
    assert not compare(Estimate((0.92,), n), Estimate((0.90,), n)).exceeds_noise  # intervals overlap
    # Disjoint intervals, but one seed landed far from the others: 2 x std vetoes the difference.
    noisy = Estimate((0.99, 0.99, 0.78), n)
    verdict = compare(noisy, Estimate((0.70, 0.71, 0.72), n))
    assert verdict.intervals_overlap is False
    assert abs(verdict.diff) < verdict.seed_threshold
    assert not verdict.exceeds_noise
    steady = Estimate((0.93, 0.92, 0.94), n)
    assert compare(steady, Estimate((0.70, 0.71, 0.72), n)).exceeds_noise


# -- the synthetic sweep -------------------------------------------------------------------------
def test_report_table_has_exact_values_intervals_and_lists_the_failed_run(tmp_path):
    sweep = write_sweep(tmp_path)
    report = write_report(sweep).read_text()

    assert "8 finished runs, 1 missing or failed. Val set: 153 images (one image = 0.65 accuracy points)." in report
    table = section(report, "## Results")
    assert "| alexnet | extractor | 0 | 0.882 [0.822, 0.924] | 0.902 [0.845, 0.940] | 2 | 18,434 | 10.0 |" in table
    assert "| vgg16 | finetune | 0 | 0.850 [0.785, 0.898] | 0.876 [0.814, 0.919] | 2 | 14,764,866 | 10.0 |" in table
    assert "| inception_v3 | extractor | 0 | 0.915 [0.860, 0.950] | 0.922 [0.868, 0.955] | 2 | 4,098 | 10.0 |" in table
    assert "| inception_v3 | mixed | — | — | — | — | — | — |" in table
    problems = section(report, "## Missing or failed runs")
    assert "`8_arch=inception_v3,strategy=mixed`: no metrics.json" in problems
    assert "Cells without any finished run (shown as —): inception_v3/mixed" in problems


def test_noise_section_and_answers_cite_the_cells(tmp_path):
    report = write_report(write_sweep(tmp_path)).read_text()
    noise = section(report, "## Which differences exceed the noise")
    # 145 vs 130 correct: intervals [0.900, 0.973] and [0.785, 0.898] are disjoint.
    assert "| vgg16/extractor 0.948 [0.900, 0.973] | vgg16/finetune 0.850 [0.785, 0.898] | +0.098 | yes |" in noise
    assert "| alexnet/extractor 0.882 [0.822, 0.924] | alexnet/mixed 0.889 [0.829, 0.929] | -0.007 | no |" in noise

    questions = section(report, "## The assignment's questions")
    assert "rows 1–70 are `ants`, rows 71–153 are `bees`" in questions
    assert "The train set holds `ants` 124, `bees` 120 (244 images). At batch_size=4 that is 61 batches" in questions
    assert "Unshuffled, 61 of 61 batches would hold a single class" in questions
    assert "i.e. 61 optimizer steps per epoch and 183 over 3 epochs" in questions
    assert "Shuffled, a batch is single-class only by chance: 7.4 of 61 expected, so most steps see both" in questions
    assert "Freezing (`extractor`) beat fine-tuning beyond noise for 1 of 3 architectures" in questions
    assert "Why freezing won here: the train set is small (244 images)" in questions
    assert "- **vgg16**: vgg16/extractor 0.948 [0.900, 0.973] vs vgg16/finetune 0.850 [0.785, 0.898]" in questions
    assert "majority-class baseline of 83/153 = 0.542 (always answering `bees`)" in questions
    mixed = "- **alexnet** (`mixed` trains the last 2 layer groups, 1,493,506 parameters): unfreezing did not help"
    assert mixed in questions
    assert "Highest last-epoch val accuracy: vgg16/extractor 0.948 [0.900, 0.973]." in questions
    assert "- **inception_v3**: `mixed` was not measured" in questions
    assert "**No clear winner**: vgg16 leads, but not beyond noise over alexnet, inception_v3" in questions


def test_answers_follow_the_numbers(tmp_path):
    changed = dict(CORRECT)
    changed[("alexnet", "finetune")] = (152, 152)  # fine-tuning now clearly ahead for alexnet
    changed[("alexnet", "mixed")] = (100, 110)  # and unfreezing two groups clearly hurts
    report = write_report(write_sweep(tmp_path, changed)).read_text()
    questions = section(report, "## The assignment's questions")

    summary = "Freezing (`extractor`) beat fine-tuning beyond noise for 1 of 3 architectures, fine-tuning beat"
    assert f"{summary} freezing for 1, and 1 are within noise of each other." in questions
    assert "Fine-tuning won for alexnet" in questions
    assert "alexnet/finetune 0.993 [0.964, 0.999]" in questions
    assert "unfreezing hurt: alexnet/mixed 0.654 [0.575, 0.724] vs alexnet/extractor" in questions
    # alexnet/finetune is now the top cell; vgg16's best (0.948) is within noise of it.
    assert "Highest last-epoch val accuracy: alexnet/finetune 0.993 [0.964, 0.999]." in questions
    assert "**No clear winner**: alexnet leads, but not beyond noise over vgg16" in questions
    assert "alexnet has the highest mean only under finetune and not under extractor, mixed" in questions


def test_clear_winner_and_seed_spread(tmp_path):
    seeds = {
        ("alexnet", "extractor"): [(120, 122), (118, 121), (121, 124)],
        ("vgg16", "extractor"): [(146, 147), (147, 148), (145, 147)],
    }
    report = write_report(write_sweep(tmp_path, seeds, seeds=(0, 1, 2))).read_text()
    table = section(report, "## Results")
    assert "| vgg16 | extractor | 0, 1, 2 | 0.954 ± 0.007 [0.909, 0.978] | 0.963 ± 0.004 [0.920, 0.983] |" in table
    assert "| alexnet | extractor | 0, 1, 2 | 0.782 ± 0.010 [0.710, 0.840] |" in table
    questions = section(report, "## The assignment's questions")
    assert "**vgg16 won**: its lead over every other architecture's best cell exceeds the noise." in questions
    assert "size of Δ 0.172 > 2×seed std 0.020" in questions
    assert "only `extractor` was measured for vgg16 and a rival, so the sweep cannot tell" in questions
    # Only the extractor cells were measured: the other seven are listed as missing.
    assert report.count("no metrics.json") == 7 * 3


def test_report_lists_jobs_that_never_started_and_writes_figures(tmp_path):
    sweep = write_sweep(tmp_path)
    multirun = {"hydra": {"overrides": {"task": ["arch=alexnet,vgg16,inception_v3", "strategy=extractor,finetune"]}}}
    (sweep / "multirun.yaml").write_text(OmegaConf.to_yaml(multirun))
    shutil.rmtree(sweep / "4_arch=vgg16,strategy=finetune")
    report = write_report(sweep).read_text()
    assert "`arch=vgg16,strategy=finetune`: never started (no job folder)" in report
    assert "| vgg16 | finetune | — |" in report
    for name in ("loss_arch_alexnet.png", "loss_strategy_extractor.png", "0_alexnet_extractor_seed0_confusion.png"):
        assert (sweep / "report_figures" / name).stat().st_size > 0
    assert "![misclassified](report_figures/0_alexnet_extractor_seed0_misclassified.png)" in report
    assert "| bees | 15 | 68 |" in section(report, "### 0_arch=alexnet,strategy=extractor")


def test_report_cli_and_an_empty_sweep(tmp_path, capsys):
    assert report_main([str(tmp_path / "absent")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert report_main([str(tmp_path / "empty")]) == 0
    report = (tmp_path / "empty" / "report.md").read_text()
    assert "0 finished runs" in report
    assert "No run finished" in report


def test_sweep_callback_writes_the_report_and_survives_its_failure(tmp_path, monkeypatch, caplog):
    sweep = write_sweep(tmp_path)
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}})
    SweepSummary().on_multirun_end(config)
    assert (sweep / "summary.csv").is_file() and (sweep / "report.md").is_file()

    def broken(_):
        raise RuntimeError("boom")

    monkeypatch.setattr("tl_lightning.report.write_report", broken)
    SweepSummary().on_multirun_end(config)  # must not raise: the sweep's runs are already done
    assert "Sweep report failed" in caplog.text and "boom" in caplog.text


def test_report_on_a_real_tiny_run(make_cfg, tmp_path):
    cfg = make_cfg("alexnet", "extractor")
    train(cfg)
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    shutil.move(cfg.paths.output_dir, sweep / "0_arch=alexnet,strategy=extractor")
    report = write_report(sweep).read_text()
    run = load_sweep(sweep).ok_runs[0]
    assert run.val_size == 8 and run.batch_size() == 4
    assert "The train set holds `ants` 6, `bees` 6 (12 images). At batch_size=4 that is 3 batches" in report
    assert f"| alexnet | extractor | 0 | {run.metrics['val_acc_last']:.3f} [" in report
    assert answer_freeze(load_sweep(sweep))[0].startswith("No architecture has both")
