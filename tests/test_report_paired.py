"""Paired statistics: exact McNemar, the sign-flip test, Holm, and the report's noise verdicts built on them."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.stats import binomtest

from report_fixtures import CORRECT, N_VAL, first_bees, mcnemar_exact, section, write_run, write_sweep
from tl_lightning.report import paired, write_report
from tl_lightning.report.__main__ import main as report_main
from tl_lightning.report.answers.winner import answer_winner
from tl_lightning.report.groups import load_sweep
from tl_lightning.report.noise import family
from tl_lightning.report.paired import holm, image_differences, paired_test, sign_flip_p
from tl_lightning.report.readings import noise_table


@pytest.mark.parametrize(("a_only", "b_only"), [(9, 0), (0, 9), (5, 2), (20, 11), (3, 3), (0, 0), (40, 25)])
def test_the_mcnemar_reference_is_the_exact_binomial_test_on_the_discordant_images(a_only, b_only):
    n = a_only + b_only
    assert mcnemar_exact(a_only, b_only) == pytest.approx(binomtest(a_only, n).pvalue if n else 1.0, rel=1e-12)
    assert mcnemar_exact(9, 0) == pytest.approx(2 / 2**9)
    assert mcnemar_exact(5, 2) == pytest.approx(2 * (1 + 7 + 21) / 2**7)


def test_holm_multiplies_the_ith_smallest_p_by_m_minus_i_plus_1_and_stays_monotone():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.001]) == pytest.approx([0.5, 0.002])
    assert holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def correct(n: int, wrong: range | set[int]) -> list[bool]:
    return [i not in wrong for i in range(n)]


def test_one_seed_or_identical_seeds_give_exactly_mcnemar():
    # A 5–0 discordant lead: McNemar p = 2 / 2**5 = 0.0625; the same runs repeated over 3 seeds add nothing
    # (the paired bootstrap this replaces gave 0.039 there).
    a, b = correct(153, range(10)), correct(153, range(15))
    assert paired_test([a], [b]) == ("exact McNemar", pytest.approx(0.0625, rel=1e-12))
    assert paired_test([a] * 3, [b] * 3) == ("exact McNemar", pytest.approx(0.0625, rel=1e-12))
    assert paired_test([a] * 3, [b] * 2)[1] == pytest.approx(0.0625, rel=1e-12)
    for a_only, b_only in [(9, 0), (5, 2), (20, 11), (3, 3), (0, 0), (40, 25)]:
        d = np.array([1] * a_only + [-1] * b_only + [0] * 50)
        assert sign_flip_p(d) == pytest.approx(mcnemar_exact(a_only, b_only), rel=1e-12)
        assert sign_flip_p(6 * d) == pytest.approx(mcnemar_exact(a_only, b_only), rel=1e-12)


def brute_force_p(d: np.ndarray) -> float:
    """Reference: every one of the 2^k sign patterns of the k nonzero differences, counted."""
    nonzero = [int(x) for x in d if x]
    observed = abs(sum(nonzero))
    hits = sum(
        abs(sum(s * x for s, x in zip(signs, nonzero, strict=True))) >= observed
        for signs in itertools.product((1, -1), repeat=len(nonzero))
    )
    return hits / 2 ** len(nonzero)


@pytest.mark.parametrize("seed", range(5))
def test_the_sign_flip_distribution_is_exact_with_runs_that_disagree(seed):
    rng = np.random.default_rng(seed)
    runs_a = (rng.random((3, 14)) < 0.8).tolist()  # 3 runs against 2: differences in sixths
    runs_b = (rng.random((2, 14)) < 0.7).tolist()
    d, scale = image_differences(runs_a, runs_b)
    assert scale == 6
    name, p = paired_test(runs_a, runs_b)
    assert name == "exact sign-flip" and p == pytest.approx(brute_force_p(d), rel=1e-9)


def test_a_huge_design_falls_back_to_seeded_monte_carlo(monkeypatch):
    d = np.array([1, 2, -1, 3, 2, 1, -2, 1, 1, 2] * 3)
    exact = sign_flip_p(d)
    monkeypatch.setattr(paired, "EXACT_LIMIT", 10)
    approx = sign_flip_p(d)
    assert approx == sign_flip_p(d)  # seeded: the same report twice
    assert abs(approx - exact) < 0.005


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
    assert "| -5.9 | -9.9 to -1.7 | exact McNemar | 0.00391 | 0.00391 | vgg16/extractor better | 5.5 |" in table
    assert "**vgg16 won** under `extractor`" in "\n".join(answer_winner(sweep))


def test_the_same_lead_with_many_discordant_images_is_inconclusive_and_says_what_it_allows(tmp_path):
    # Same 9-image lead, but the models disagree on 31 images (20 for vgg16, 11 for alexnet).
    wrong_a = set(range(0, 20))  # 20 images only alexnet misses
    wrong_b = set(range(20, 31))  # 11 images only vgg16 misses
    sweep = load_sweep(lead_sweep(tmp_path, wrong_a, wrong_b))
    table = "\n".join(noise_table(sweep))
    p = mcnemar_exact(11, 20)
    # Bonett–Price: (11 + 1 − 20 − 1) / 155 ± 1.96 · √(((31 + 2) / 155 − centre²) / 155)
    centre = -9 / 155
    half = 1.959964 * math.sqrt((33 / 155 - centre**2) / 155)
    low, high = f"{(centre - half) * 100:+.1f}", f"{(centre + half) * 100:+.1f}"
    assert (low, high) == ("-13.0", "+1.4")
    reading = (
        f"inconclusive (difference: Holm-adjusted p = {p:.3g}; TOST for ±2 points: p = 0.85, Holm-adjusted p = 0.85)"
    )
    assert f"| -5.9 | {low} to {high} | exact McNemar | {p:.3g} | {p:.3g} | {reading} | 10.5 |" in table
    text = "\n".join(answer_winner(sweep))
    assert (
        "**No clear winner**: vgg16 has the highest mean under `extractor`, but is not separated from alexnet" in text
    )
    assert "(at α = 0.05 this design finds a difference of 10.5 points with 80 % power)" in text
    assert "Why:" not in text  # a lead the data do not show is not explained


def test_an_interval_never_collapses_and_zero_is_never_negative(tmp_path):
    # Identical predictions: no discordant image, Δ exactly 0; the interval still has width (one pseudo-image
    # each way), and TOST at the default ±2 points calls the cells equivalent (90 % interval ±1.5 points).
    sweep = lead_sweep(tmp_path, first_bees(13), first_bees(13))
    report = write_report(sweep).read_text()
    assert (
        "Δ = 0.0 points (no image of 153), unadjusted 95 % interval -1.8 to +1.8 points; exact McNemar p = 1" in report
    )
    assert "equivalent within ±2 points (TOST for ±2 points: p = 0.0142, Holm-adjusted p = 0.0142)" in report
    assert "-0.0" not in report and "≈ 0.0 val images" not in report
    assert (
        "the equivalence test says so: two one-sided tests (TOST) that the difference lies within ±2 points" in report
    )
    # A narrower margin is recorded in the report and cannot be met by 153 images.
    assert report_main([str(sweep), "--margin", "1"]) == 0
    report = (sweep / "report.md").read_text()
    assert "lies within ±1 points (the margin, `--margin`)" in report
    assert "equivalent within" not in report
    assert (
        "inconclusive (difference: Holm-adjusted p = 1; TOST for ±1 points: p = 0.137, Holm-adjusted p = 0.137)"
        in report
    )
    assert report_main([str(sweep), "--margin", "0"]) == 2


def test_holm_runs_within_each_question_and_says_what_holm_is(tmp_path):
    report = write_report(write_sweep(tmp_path))
    noise = section(report.read_text(), "## Which differences exceed the noise")
    assert noise.count("| exact McNemar |") == 14
    assert "### Q4 under `finetune` (pairs of archs)\n\n3 tested comparisons, Holm-corrected together." in noise
    # 8 discordant images, all one way: raw p = 2 / 2**8 = 0.0078; Holm within Q4 under `finetune`'s 3 tests
    # (rank 2 of 3, after alexnet vs vgg16's 0.00195 · 3): 0.0078 · 2 = 0.0156.
    row = "| alexnet/finetune 0.784 [0.713, 0.842] | inception_v3/finetune 0.837 [0.770, 0.887] | -5.2 | -9.1 to -1.2 "
    assert f"{row}| exact McNemar | 0.00781 | 0.0156 | inception_v3/finetune better |" in noise
    assert "Holm-adjusted p: the p value corrected for the other comparisons of its family" in report.read_text()


def test_an_unrelated_cell_changes_no_verdict(tmp_path):
    def verdicts(sweep_dir):
        sweep = load_sweep(sweep_dir)
        return {(t.a.label, t.b.label): (t.p_holm, t.reading) for t in family(sweep).values()}

    base = write_sweep(tmp_path / "base")
    before = verdicts(base)
    # Another learning rate for one cell: a family of its own ("the swept setting `lr`").
    write_run(base / "9_lr", "alexnet", "extractor", (150, 150), wrong_last=first_bees(3), lr=1e-3)
    after = verdicts(base)
    labels = {k: v for k, v in after.items() if "lr=0.001" not in k[0] + k[1]}
    assert {tuple(x.replace(" (lr=0.0001)", "") for x in k): v for k, v in labels.items()} == before
    # Without the `mixed` cells, Q3 and Q4 lose comparisons; Q2's verdicts do not move.
    fewer = verdicts(write_sweep(tmp_path / "fewer", {k: v for k, v in CORRECT.items() if k[1] != "mixed"}))
    q2 = {k: v for k, v in before.items() if k[0].endswith("/extractor") and k[1].endswith("/finetune")}
    assert len(q2) == 3 and all(fewer[k] == v for k, v in q2.items())
    assert len(fewer) < len(before)


def test_several_seeds_use_the_sign_flip_test_and_the_report_is_reproducible(tmp_path):
    seeds = {
        ("alexnet", "extractor"): [(135, 138), (137, 138), (134, 138)],
        ("alexnet", "finetune"): [(132, 133), (136, 137), (130, 131)],
    }
    sweep = write_sweep(tmp_path, seeds, seeds=(0, 1, 2))
    first = section(write_report(sweep).read_text(), "## Which differences exceed the noise")
    assert "| exact sign-flip |" in first
    assert first == section(write_report(sweep).read_text(), "## Which differences exceed the noise")


def test_a_cell_without_last_epoch_predictions_is_not_tested_and_says_so(tmp_path):
    sweep_dir = write_sweep(tmp_path)
    (sweep_dir / "4_arch=vgg16,strategy=finetune" / "val_predictions_last.csv").unlink()
    report = write_report(sweep_dir).read_text()
    noise = section(report, "## Which differences exceed the noise")
    row = "| vgg16/extractor 0.948 [0.900, 0.973] | vgg16/finetune 0.850 [0.785, 0.898] | +9.8 | — | — | — | — |"
    assert f"{row} not tested | — | the paired test cannot run: `4_arch=vgg16,strategy=finetune` has no" in noise
    questions = section(report, "## The assignment's questions")
    assert "Δ = +9.8 points (15 of 153 val images), not tested: the paired test cannot run" in questions
    assert "1 could not be tested" in questions


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
    assert "### The swept setting `augmentation`" in table and "### The swept setting `lr`" in table
    rows = table.splitlines()
    pair = [r for r in rows if "augmentation=plain" in r and "augmentation=fresh" in r]
    # 9 discordant images, all for fresh: exact McNemar p = 2 / 2**9; each setting is a family of one.
    assert len(pair) == 1 and "| +5.9 | +1.7 to +9.9 | exact McNemar | 0.00391 | 0.00391 |" in pair[0]
    # The input path follows the regime: it stays out of the labels, and the regime pair is not "crossing" one.
    assert "input_cache=" not in pair[0] and "crosses augmentation regimes" not in pair[0]
    lr_pair = [r for r in rows if "lr=0.0001)" in r and "lr=0.001)" in r]
    assert len(lr_pair) == 1 and "augmentation=plain" not in lr_pair[0]
    assert "| exact McNemar | 1 | 1 | equivalent within ±2 points" in lr_pair[0]
