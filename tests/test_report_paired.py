"""Paired statistics: exact McNemar, the paired bootstrap, Holm, and the report's noise verdicts built on them."""

from __future__ import annotations

import math

import pytest

from report_fixtures import N_VAL, first_bees, section, write_run, write_sweep
from tl_lightning.report import write_report
from tl_lightning.report.answers.winner import answer_winner
from tl_lightning.report.groups import load_sweep
from tl_lightning.report.noise import noise_table
from tl_lightning.report.paired import holm, mcnemar_exact, paired_bootstrap


def binomial_two_sided(k: int, n: int) -> float:
    """Reference: two-sided binomial test at 1/2, summing every outcome no more likely than k."""
    pmf = [math.comb(n, i) / 2**n for i in range(n + 1)]
    return min(1.0, sum(p for p in pmf if p <= pmf[k] * (1 + 1e-12)))


@pytest.mark.parametrize(("a_only", "b_only"), [(9, 0), (0, 9), (5, 2), (20, 11), (3, 3), (0, 0), (40, 25)])
def test_mcnemar_is_the_exact_binomial_test_on_the_discordant_images(a_only, b_only):
    n = a_only + b_only
    expected = binomial_two_sided(min(a_only, b_only), n) if n else 1.0
    assert mcnemar_exact(a_only, b_only) == pytest.approx(expected, rel=1e-12)
    assert mcnemar_exact(9, 0) == pytest.approx(2 / 2**9)
    assert mcnemar_exact(5, 2) == pytest.approx(2 * (1 + 7 + 21) / 2**7)


def test_holm_multiplies_the_ith_smallest_p_by_m_minus_i_plus_1_and_stays_monotone():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.001]) == pytest.approx([0.5, 0.002])
    assert holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_paired_bootstrap_is_reproducible_and_agrees_with_mcnemar_when_seeds_agree():
    n = 153
    base = [i >= 20 for i in range(n)]  # 20 images every run gets wrong
    better = [(s, [i >= 20 for i in range(n)]) for s in (0, 1, 2)]
    worse = [(s, [i >= 29 for i in range(n)]) for s in (0, 1, 2)]  # 9 more wrong, always the same images
    p = paired_bootstrap(better, worse)
    assert p == paired_bootstrap(better, worse)  # seeded: the same report twice
    # Seeds that agree add nothing: close to McNemar's 2 / 2**9 = 0.0039 on the same 9 discordant images (the
    # resampled lead moves as far from 9 images as 9 is from 0 only when 0 or 18+ of them are drawn).
    assert 0.002 < p < 0.008
    assert paired_bootstrap([(0, base)], [(0, base)]) == 1.0
    # Seeds that disagree with each other: the spread over seeds makes the same mean lead uncertain.
    noisy_a = [(0, [i >= 0 for i in range(n)]), (1, [i >= 40 for i in range(n)])]
    noisy_b = [(0, [i >= 35 for i in range(n)]), (1, [i >= 5 for i in range(n)])]
    assert paired_bootstrap(noisy_a, noisy_b) > 0.05


def lead_sweep(tmp_path, wrong_a: set[int], wrong_b: set[int]):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    write_run(sweep / "0_arch=alexnet", "alexnet", "extractor", (N_VAL - len(wrong_a),) * 2, wrong_last=wrong_a)
    write_run(sweep / "1_arch=vgg16", "vgg16", "extractor", (N_VAL - len(wrong_b),) * 2, wrong_last=wrong_b)
    return sweep


def test_a_nine_image_lead_is_tested_pairwise_not_by_overlapping_intervals(tmp_path):
    # 140 vs 149 correct: the Wilson intervals [0.860, 0.950] and [0.935, 0.990] overlap, yet every one of the
    # 9 discordant images favours vgg16: exact McNemar p = 2 / 2**9.
    sweep = load_sweep(lead_sweep(tmp_path, first_bees(13), first_bees(4)))
    table = "\n".join(noise_table(sweep))
    assert "| -0.059 | exact McNemar | 0.00391 | 0.00391 | yes |" in table
    assert "**vgg16 won** under `extractor`" in "\n".join(answer_winner(sweep))


def test_the_same_lead_with_many_discordant_images_is_within_noise(tmp_path):
    # Same 9-image lead, but the models disagree on 31 images (20 for vgg16, 11 for alexnet).
    wrong_a = set(range(0, 20))  # 20 images only alexnet misses
    wrong_b = set(range(20, 31))  # 11 images only vgg16 misses
    sweep = load_sweep(lead_sweep(tmp_path, wrong_a, wrong_b))
    table = "\n".join(noise_table(sweep))
    p = binomial_two_sided(11, 31)
    assert f"| -0.059 | exact McNemar | {p:.3g} | {p:.3g} | no |" in table
    assert "**No clear winner**: vgg16 leads under `extractor`, but not beyond noise over alexnet" in "\n".join(
        answer_winner(sweep)
    )


def test_holm_runs_over_every_comparison_of_the_report(tmp_path):
    table = "\n".join(noise_table(load_sweep(write_sweep(tmp_path))))
    assert table.count("| exact McNemar |") == 14
    # 8 discordant images, all one way: raw p = 2 / 2**8 = 0.0078 < 0.05, but Holm (rank 9 of 14) gives 0.0547.
    row = "| alexnet/finetune 0.784 [0.713, 0.842] | inception_v3/finetune 0.837 [0.770, 0.887] | -0.052 "
    assert f"{row}| exact McNemar | 0.00781 | 0.0547 | no |" in table


def test_several_seeds_use_the_paired_bootstrap_and_the_report_is_reproducible(tmp_path):
    seeds = {
        ("alexnet", "extractor"): [(135, 138), (137, 138), (134, 138)],
        ("alexnet", "finetune"): [(132, 133), (136, 137), (130, 131)],
    }
    sweep = write_sweep(tmp_path, seeds, seeds=(0, 1, 2))
    first = section(write_report(sweep).read_text(), "## Which differences exceed the noise")
    assert "| paired bootstrap (10,000 resamples) |" in first
    assert first == section(write_report(sweep).read_text(), "## Which differences exceed the noise")


def test_a_cell_without_last_epoch_predictions_is_not_tested_and_says_so(tmp_path):
    sweep_dir = write_sweep(tmp_path)
    (sweep_dir / "4_arch=vgg16,strategy=finetune" / "val_predictions_last.csv").unlink()
    report = write_report(sweep_dir).read_text()
    noise = section(report, "## Which differences exceed the noise")
    row = "| vgg16/extractor 0.948 [0.900, 0.973] | vgg16/finetune 0.850 [0.785, 0.898] | +0.098 | — | — | — |"
    assert f"{row} not tested | the paired test cannot run: `4_arch=vgg16,strategy=finetune` has no" in noise
    questions = section(report, "## The assignment's questions")
    assert "Δ = +0.098 ≈ 15.0 val images, not tested: the paired test cannot run" in questions
    assert "1 could not be tested" in questions


def test_paired_bootstrap_pairs_shared_seeds_and_resamples_the_others_within_their_cell():
    n = 153
    a = [(s, [i >= 5 + s for i in range(n)]) for s in (0, 1, 2)]
    b = [(s, [i >= 20 + s for i in range(n)]) for s in (0, 1)] + [(None, [i >= 21 for i in range(n)])]
    p = paired_bootstrap(a, b)
    assert p == paired_bootstrap(a, b)
    assert 1 / 10_001 <= p < 0.01  # 15 more images right in every run of A


def test_cells_of_one_arch_and_strategy_that_differ_in_one_swept_setting_are_tested_pairwise(tmp_path):
    # strategy.cache_views=plain,fresh for alexnet/extractor (fresh also changes the recorded input path), plus
    # an lr=1e-3 fresh cell: plain vs fresh is one comparison, plain vs (fresh, lr 1e-3) differs in two settings.
    sweep = tmp_path / "sweep"
    fresh = {"augmentation": "fresh", "input_cache": "off: strategy.cache_views=fresh draws new crops every epoch"}
    write_run(sweep / "0_plain", "alexnet", "extractor", (140, 140), wrong_last=first_bees(13))
    write_run(sweep / "1_fresh", "alexnet", "extractor", (149, 149), wrong_last=first_bees(4), **fresh)
    write_run(sweep / "2_fresh_lr", "alexnet", "extractor", (149, 149), wrong_last=first_bees(4), lr=1e-3, **fresh)
    table = "\n".join(noise_table(load_sweep(sweep)))
    assert "differ in a single swept setting (`augmentation`, `lr`) are tested the same way" in table
    rows = table.splitlines()
    pair = [r for r in rows if "augmentation=plain" in r and "augmentation=fresh" in r]
    # 9 discordant images, all for fresh: exact McNemar p = 2 / 2**9; Holm over the 2 tested pairs.
    assert len(pair) == 1 and "| +0.059 | exact McNemar | 0.00391 | 0.00781 | yes |" in pair[0]
    # The input path follows the regime: it stays out of the labels, and the regime pair is not "crossing" one.
    assert "input_cache=" not in pair[0] and "crosses augmentation regimes" not in pair[0]
    lr_pair = [r for r in rows if "lr=0.0001)" in r and "lr=0.001)" in r]
    assert len(lr_pair) == 1 and "augmentation=plain" not in lr_pair[0]
    assert "| exact McNemar | 1 | 1 | no |" in lr_pair[0]
