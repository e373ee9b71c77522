"""Sweep report on synthetic sweep dirs with fixed metrics, and on one real tiny run."""

from __future__ import annotations

import math
import re
import shutil

import pytest
import torch
from omegaconf import OmegaConf

from report_fixtures import CORRECT, PARAMS, VAL, section, write_run, write_sweep
from tl_lightning.model.module import TransferLearningModule
from tl_lightning.report import write_report
from tl_lightning.report.__main__ import main as report_main
from tl_lightning.report.answers.freeze import answer_freeze
from tl_lightning.report.groups import load_sweep
from tl_lightning.report.stats import wilson_interval
from tl_lightning.run.sweep import SweepSummary
from tl_lightning.run.train import train


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


# -- the synthetic sweep -------------------------------------------------------------------------
def test_report_table_has_exact_values_intervals_and_lists_the_failed_run(tmp_path):
    sweep = write_sweep(tmp_path)
    report = write_report(sweep).read_text()

    assert "8 finished runs, 1 missing or failed. Val set: 153 images (one image = 0.65 accuracy points)." in report
    table = section(report, "## Results")
    assert (
        "| alexnet | extractor | plain | 0 | 0.882 [0.822, 0.924] | ants 1.000, bees 0.783 | 0.902 [0.845, 0.940] "
        "| 2 | 18,434 | 10.0 |" in table
    )
    assert "| vgg16 | finetune | fresh | 0 | 0.850 [0.785, 0.898] | ants 1.000, bees 0.723 | 0.876 [0.814," in table
    assert "| inception_v3 | extractor | plain | 0 | 0.915 [0.860, 0.950] | ants 1.000, bees 0.843 | 0.922 [" in table
    assert "| inception_v3 | mixed | — | — | — | — | — | — | — |" in table
    problems = section(report, "## Missing or failed runs")
    assert "`8_arch=inception_v3,strategy=mixed`: no metrics.json" in problems
    assert "Cells without any finished run (shown as —): inception_v3/mixed" in problems


def test_noise_section_and_answers_cite_the_cells(tmp_path):
    report = write_report(write_sweep(tmp_path)).read_text()
    noise = section(report, "## Which differences exceed the noise")
    # 145 vs 130 correct, nested errors: 15 discordant images, all for A: p = 2 / 2**15; Q2 for vgg16 is one test.
    assert "### Q2 for vgg16 (`extractor` vs `finetune`)\n\n1 tested comparison(s)." in noise
    row = "| vgg16/extractor 0.948 [0.900, 0.973] | vgg16/finetune 0.850 [0.785, 0.898] | +9.8 | +4.7 to +14.7 "
    assert f"{row}| exact McNemar | 6.1e-05 | 6.1e-05 | vgg16/extractor better | 7.2 | the pair" in noise
    # Q3's pairs read mixed − other; one discordant image: inconclusive, with both tests' p values.
    row = "| alexnet/mixed 0.889 [0.829, 0.929] | alexnet/extractor 0.882 [0.822, 0.924] | +0.7 | -1.5 to +2.8 "
    inconclusive = (
        "inconclusive (difference: Holm-adjusted p = 1; TOST for ±2 points: p = 0.112, Holm-adjusted p = 0.225)"
    )
    assert f"{row}| exact McNemar | 1 | 1 | {inconclusive} | 5.1 (5.9 at α/2) |" in noise

    questions = section(report, "## The assignment's questions")
    assert "rows 1–70 are `ants`, rows 71–153 are `bees`" in questions
    assert "The train set holds `ants` 124, `bees` 120 (244 images). Cut in file order into batches of 4" in questions
    assert "Unshuffled, 61 of 61 batches would hold a single class" in questions
    assert "the runs recorded 61 optimizer steps per epoch (steps_per_epoch" in questions
    assert "Shuffled, a batch is single-class only by chance: 7.4 of 61 expected, so most steps see both" in questions
    assert "Freezing (`extractor`) was better than fine-tuning for 3 of 3 architectures" in questions
    assert (
        "Why freezing won here: the train set has 244 images; the frozen net's train−val gap is the smaller"
        in questions
    )
    assert "- **vgg16**: vgg16/extractor 0.948 [0.900, 0.973] vs vgg16/finetune 0.850 [0.785, 0.898]" in questions
    assert "Δ = +9.8 points (15 of 153 val images), unadjusted 95 % interval +4.7 to +14.7 points; exact" in questions
    assert "majority-class baseline of 83/153 = 0.542 (always answering `bees`)" in questions
    mixed = "- **alexnet** (`mixed` trains the last 2 layer groups, 1,493,506 parameters): the val images do not"
    assert mixed in questions
    assert f"{inconclusive} (at α = 0.05 this design finds a difference of 5.1 points with 80 % power)" in questions
    assert "Highest last-epoch val accuracy: vgg16/extractor 0.948 [0.900, 0.973]." in questions
    assert "- **inception_v3**: `mixed` was not measured" in questions
    no_winner = (
        "**No clear winner**: vgg16 has the highest mean under `extractor`, but is not separated from inception_v3"
    )
    assert no_winner in questions
    assert "Why:" not in section(report, "### 4.")  # no lead beyond noise, so no lead to explain


def test_answers_follow_the_numbers(tmp_path):
    changed = dict(CORRECT)
    changed[("alexnet", "finetune")] = (152, 152)  # fine-tuning now clearly ahead for alexnet
    changed[("alexnet", "mixed")] = (100, 110)  # and unfreezing two groups clearly hurts
    report = write_report(write_sweep(tmp_path, changed)).read_text()
    questions = section(report, "## The assignment's questions")

    summary = "Freezing (`extractor`) was better than fine-tuning for 2 of 3 architectures and fine-tuning better"
    assert f"{summary} for 1; 0 comparison(s) are inconclusive." in questions
    assert "Fine-tuning won for alexnet." in questions
    assert "alexnet/finetune 0.993 [0.964, 0.999]" in questions
    assert "unfreezing hurt: alexnet/mixed 0.654 [0.575, 0.724] vs alexnet/extractor" in questions
    # alexnet/finetune is now the top cell, beyond noise over every other finetune cell.
    assert "Highest last-epoch val accuracy: alexnet/finetune 0.993 [0.964, 0.999]." in questions
    assert "**alexnet won** under `finetune`" in questions
    assert "alexnet has the highest mean only under finetune and not under extractor, mixed" in questions


def test_clear_winner_and_seed_spread(tmp_path):
    seeds = {
        ("alexnet", "extractor"): [(120, 122), (118, 121), (121, 124)],
        ("vgg16", "extractor"): [(146, 147), (147, 148), (145, 147)],
    }
    report = write_report(write_sweep(tmp_path, seeds, seeds=(0, 1, 2))).read_text()
    table = section(report, "## Results")
    assert (
        "| vgg16 | extractor | plain | 0, 1, 2 | 0.954 ± 0.007 [0.909, 0.978] | ants 1.000, bees 0.916 | 0.963 ± 0.004 "
        "[0.920, 0.983] |" in table
    )
    assert "| alexnet | extractor | plain | 0, 1, 2 | 0.782 ± 0.010 [0.710, 0.840] |" in table
    questions = section(report, "## The assignment's questions")
    assert "**vgg16 won** under `extractor`: it is better than every other architecture" in questions
    # Three seeds whose errors are nested: 26.3 images, mean over runs; the exact sign-flip distribution.
    assert "Δ = +17.2 points (26.3 of 153 val images, mean over runs)" in questions
    assert (
        "exact sign-flip p = 3.73e-09, Holm-adjusted p = 3.73e-09 (1 comparison(s) in Q4 under `extractor`): "
        "vgg16/extractor better" in questions
    )
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
    assert "![misclassified, epoch 3 (last)](report_figures/0_alexnet_extractor_seed0_misclassified.png)" in report
    # The last epoch's 135 correct: 18 bees wrong (the best epoch's file has 15).
    assert "| bees | 18 | 65 |" in section(report, "### 0_arch=alexnet,strategy=extractor")


def test_report_cli_and_an_empty_sweep(tmp_path, capsys):
    assert report_main([str(tmp_path / "absent")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()  # e.g. a data folder given by mistake: nothing is written into it
    assert report_main([str(tmp_path / "empty")]) == 2
    assert "holds no run folders, so no report was written" in capsys.readouterr().err
    assert list((tmp_path / "empty").iterdir()) == []


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
    assert "The train set holds `ants` 6, `bees` 6 (12 images). Cut in file order into batches of 4" in report
    assert f" | 0 | {run.metrics['val_acc_last']:.3f} [" in report
    assert answer_freeze(load_sweep(sweep))[0].startswith("No architecture has both")


def test_runs_that_differ_only_in_a_setting_get_their_own_figures(tmp_path):
    # One sweep folder extended by two commands (strategy.cache_views=plain, then =fresh): both jobs are number 0
    # with the same arch, strategy and seed, so a name from those alone would show one run's figure for both.
    sweep = tmp_path / "sweep"
    fresh = {"augmentation": "fresh", "input_cache": "off"}
    write_run(sweep / "0_arch=alexnet,strategy.cache_views=plain", "alexnet", "extractor", (140, 140))
    write_run(sweep / "0_arch=alexnet,strategy.cache_views=fresh", "alexnet", "extractor", (140, 140), **fresh)
    report = write_report(sweep).read_text()
    links = re.findall(r"\]\((report_figures/[^)]*_confusion\.png)\)", report)
    assert len(links) == 2 and len(set(links)) == 2
    assert all((sweep / link).stat().st_size > 0 for link in links)
    # Same predictions, so only the title can tell the two figures apart: it names the regime.
    assert (sweep / links[0]).read_bytes() != (sweep / links[1]).read_bytes()


def test_a_new_report_drops_the_figures_of_an_earlier_one(tmp_path):
    sweep = write_sweep(tmp_path)
    stale = sweep / "report_figures" / "0_alexnet_extractor_seed7_confusion.png"  # from runs since deleted
    stale.parent.mkdir()
    stale.write_bytes(b"old")
    report = write_report(sweep).read_text()
    assert not stale.exists()
    assert "(report_figures/0_alexnet_extractor_seed0_confusion.png)" in report
    assert (sweep / "report_figures" / "0_alexnet_extractor_seed0_confusion.png").is_file()


def test_a_folder_with_a_report_but_no_runs_is_left_as_it_is(tmp_path, capsys):
    # docs/study holds a copied report whose runs live elsewhere: rewriting it would empty it.
    (tmp_path / "report.md").write_text("the study")
    assert report_main([str(tmp_path)]) == 2
    assert "holds a report.md but no run folders" in capsys.readouterr().err
    assert (tmp_path / "report.md").read_text() == "the study"
