"""Runs that differ in any setting but the seed never share a cell; comparisons change one axis only."""

from __future__ import annotations

import csv

import yaml

from report_fixtures import N_VAL, section, write_run
from tl_lightning.report.groups import load_sweep
from tl_lightning.report.readings import noise_table
from tl_lightning.report.summary import write_summary
from tl_lightning.report.write import write_report

SHA = "0123456789abcdef" * 4
FILE = "alexnet-imagenet-features.pth"


def test_a_weights_sweep_gives_one_cell_per_weights_with_columns_in_report_and_summary(tmp_path):
    # arch.weights=none,<file> for alexnet/extractor, seed 0 each: 95 vs 125 correct (0.621 and 0.817).
    sweep = tmp_path / "sweep"
    write_run(sweep / "0_arch.weights=none", "alexnet", "extractor", (95, 95), weights="none")
    write_run(sweep / "1_arch.weights=file", "alexnet", "extractor", (125, 125), weights=FILE, weights_sha256=SHA)
    report = write_report(sweep).read_text()
    table = section(report, "## Results")
    assert "| arch | strategy | weights | weights_sha256 | augmentation | seeds |" in table
    assert "| alexnet | extractor | none | unrecorded | plain | 0 | 0.621 [" in table
    assert f"| alexnet | extractor | {FILE} | 0123456789ab | plain | 0 | 0.817 [" in table
    assert "0, 0" not in table and "±" not in table  # never two configurations pooled into one cell
    assert "With weights=none:" in report and f"With weights={FILE}:" in report

    rows = write_summary(sweep)
    assert [(r["weights"], r["val_acc_last"]) for r in rows] == [
        ("none", 95 / N_VAL),
        (f"{FILE} (sha256 0123456789ab)", 125 / N_VAL),
    ]
    with open(sweep / "summary.csv", newline="") as f:
        header = next(csv.reader(f))
    assert header[:7] == ["run", "status", "arch", "strategy", "seed", "weights", "augmentation"]
    summary_md = (sweep / "summary.md").read_text()
    assert f"| ok | alexnet | extractor | 0 | {FILE} (sha256 0123456789ab) | plain | 0.8170 |" in summary_md


def test_runs_without_settings_are_grouped_by_their_overrides_minus_the_seed(tmp_path):
    sweep = tmp_path / "sweep"
    for num, (lr, seed, correct) in enumerate([("0.001", 0, 120), ("0.001", 1, 122), ("0.0001", 0, 140)]):
        run = write_run(sweep / f"{num}_run", "alexnet", "extractor", (correct, correct), seed, legacy=True)
        (run / ".hydra").mkdir()
        overrides = ["arch=alexnet", "strategy=extractor", f"optimizer.lr={lr}", f"seed={seed}", "resume=true"]
        (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    report = write_report(sweep).read_text()
    table = section(report, "## Results")
    assert "| arch | strategy | optimizer.lr | augmentation |" in table
    assert "| alexnet | extractor | 0.001 | unrecorded | 0, 1 | 0.791 ± 0.009 [" in table
    assert "| alexnet | extractor | 0.0001 | unrecorded | 0 | 0.915 [" in table
    assert "3 run(s) predate metrics.json `settings`" in report


def test_comparisons_change_one_axis_and_keep_every_other_setting_equal(tmp_path):
    sweep = tmp_path / "sweep"
    num = 0
    for weights in ("none", "imagenet"):
        for arch in ("alexnet", "vgg16"):
            correct = {"none": 100, "imagenet": 140}[weights] + (5 if arch == "vgg16" else 0)
            write_run(sweep / f"{num}_run", arch, "extractor", (correct, correct), weights=weights)
            num += 1
    table = "\n".join(noise_table(load_sweep(sweep)))
    # alexnet vs vgg16 once per weights, none vs imagenet once per arch; never both axes at once
    assert table.count("| exact McNemar |") == 4
    assert "| alexnet/extractor (weights=none) 0.654 [" in table
    assert "| vgg16/extractor (weights=none) 0.686 [" in table
    assert "(weights=none) 0.654 [0.575, 0.724] | vgg16/extractor (weights=imagenet)" not in table


def test_a_pair_that_also_differs_in_another_setting_is_listed_but_not_tested(tmp_path):
    sweep = tmp_path / "sweep"
    write_run(sweep / "0_run", "alexnet", "extractor", (130, 130), batch_size=4)
    write_run(sweep / "1_run", "vgg16", "extractor", (145, 145), batch_size=8)
    table = "\n".join(noise_table(load_sweep(sweep)))
    assert "| -9.8 | — | — | — | — | not tested | — | they also differ in batch_size |" in table
