"""Issue 29, items 5–10: sentences conditioned on what the runs recorded, intervals that match the verdict,
recall per class, the majority-class baseline in every header, TOST p values beside the readings."""

from __future__ import annotations

import json

from report_fixtures import VAL, first_bees, section, write_run
from test_report_families import EVEN, write_cv_method
from tl_lightning.report.write import write_report


def _sweep(root, cells: dict, **changes):
    for i, ((arch, strategy), wrong) in enumerate(cells.items()):
        k = sum(VAL.values()) - len(wrong)
        write_run(root / f"{i}_arch={arch},strategy={strategy}", arch, strategy, (k, k), wrong_last=wrong, **changes)
    return root


def test_mechanisms_follow_the_recorded_arch_strategy_and_optimizer(tmp_path):
    root = _sweep(tmp_path / "s", {("alexnet", "extractor"): first_bees(18), ("alexnet", "mixed"): first_bees(20)})
    for metrics_file in root.glob("*/metrics.json"):  # 245 train images at batch 4: a lone last image
        metrics = json.loads(metrics_file.read_text())
        metrics["train_class_counts"] = {"ants": 125, "bees": 120}
        metrics["settings"]["optimizer"] = "Adam"
        metrics_file.write_text(json.dumps(metrics))
    q1 = section(write_report(root).read_text(), "### 1. Why shuffle")
    assert "SGD" not in q1 and "consecutive Adam steps would each push toward one class" in q1
    assert "one image breaks BatchNorm" not in q1
    assert "alexnet/extractor: only the new head trains, so no BatchNorm layer trains" in q1
    assert "alexnet/mixed: alexnet has no BatchNorm layer, so a batch of one would do no harm" in q1


# alexnet: extractor 6 images ahead of mixed (exact McNemar p = 2/64 = 0.031), mixed 1 behind finetune: Holm
# over Q3 for alexnet's 2 tests gives 0.0625, while the unadjusted interval of the first excludes 0.
Q3_CELLS = {
    ("alexnet", "extractor"): first_bees(18),
    ("alexnet", "finetune"): first_bees(23),
    ("alexnet", "mixed"): first_bees(24),
}


def test_an_inconclusive_reading_says_its_interval_is_unadjusted(tmp_path):
    report = write_report(_sweep(tmp_path / "s", Q3_CELLS)).read_text()
    noise = section(report, "## Which differences exceed the noise")
    assert "| 95 % interval (unadjusted), points |" in noise
    row = next(line for line in noise.splitlines() if line.startswith("| alexnet/mixed") and "extractor" in line)
    assert "| -3.9 | -7.4 to -0.3 | exact McNemar | 0.0312 | 0.0625 | inconclusive" in row
    assert "the unadjusted interval excludes 0, the Holm-corrected test does not" in row
    assert "unadjusted 95 % interval -7.4 to -0.3 points" in section(report, "### 3. Did unfreezing")


def test_tost_p_values_stand_beside_inconclusive_and_equivalent(tmp_path):
    cells = {**Q3_CELLS, ("vgg16", "extractor"): first_bees(18)}  # identical to alexnet/extractor: equivalent
    report = write_report(_sweep(tmp_path / "s", cells)).read_text()
    noise = section(report, "## Which differences exceed the noise")
    assert "inconclusive (difference: Holm-adjusted p = 0.0625; TOST for ±2 points: p = " in noise
    assert "equivalent within ±2 points (TOST for ±2 points: p = 0.0142, Holm-adjusted p = 0.0142)" in noise


def test_recall_per_class_for_every_cell_and_a_test_per_class_where_errors_differ(tmp_path):
    ants = set(range(12))  # alexnet misses 12 ants, vgg16 12 bees: same accuracy, other errors
    cells = {("alexnet", "extractor"): ants, ("vgg16", "extractor"): first_bees(12)}
    report = write_report(_sweep(tmp_path / "s", cells)).read_text()
    table = section(report, "## Results")
    assert "| 0.922 [0.868, 0.955] | ants 0.829, bees 1.000 |" in table
    assert "| 0.922 [0.868, 0.955] | ants 1.000, bees 0.855 |" in table
    q4 = section(report, "### 4. Which network won")
    assert "Δ = 0.0 points" in q4 and "per class the errors differ beyond noise: ants recall" in q4
    assert "(70 images, exact McNemar p = 0.000488, Holm-adjusted over the 2 classes p = 0.000977)" in q4


def test_every_header_states_the_majority_class_baseline(tmp_path):
    one = _sweep(tmp_path / "one", {("alexnet", "extractor"): first_bees(18)}) / "0_arch=alexnet,strategy=extractor"
    header = write_report(one).read_text().split("## Results")[0]
    assert "Majority-class baseline: always answering `bees` scores 83/153 = 0.542 on the val images." in header
    cv = tmp_path / "cv"
    cv.mkdir()
    write_cv_method(cv, "alexnet", "extractor", EVEN)
    header = write_report(cv).read_text().split("## Results")[0]
    assert "scores 20/40 = 0.500 on the labelled images the folds judged." in header
