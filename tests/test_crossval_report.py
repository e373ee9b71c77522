"""The report's cross-validation section on synthetic fold runs: pooled out of fold, 5x2cv F and t, the corrected
resampled t otherwise, values checked against hand computation."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from report_fixtures import settings_for
from test_cli_errors import run_cli
from test_sweep import tiny_sweep
from tl_lightning.report.crossval import comparisons, cv_methods
from tl_lightning.report.cvtests import alpaydin_f, compare, corrected_resampled_t, dietterich_t
from tl_lightning.report.groups import load_sweep
from tl_lightning.report.write import write_report

IMAGES = [(f"{'train' if k % 3 else 'val'}/{c}/{c}_{k}.jpg", c) for c in ("ants", "bees") for k in range(20)]
# Per repeat (split_seed) and fold: how many more images B gets wrong than A (20 images per fold).
FIVE_BY_TWO = [(2, 1), (1, 0), (2, 2), (0, 1), (3, 1)]


def fold_images(split_seed: int, fold: int) -> list[tuple[str, str]]:
    return [item for k, item in enumerate(IMAGES) if (k + split_seed) % 2 == fold]


def write_fold_run(
    run_dir: Path, strategy: str, split_seed: int, fold: int, wrong: int, seed: int = 0, arch: str = "alexnet", **extra
) -> None:
    """One run of a 5x2 cv that gets the first `wrong` images of its fold wrong; `extra` goes into metrics.json."""
    rows = fold_images(split_seed, fold)
    acc = 1 - wrong / len(rows)
    settings = settings_for(arch, strategy, seed, folds=2, fold=fold, split_seed=split_seed)
    settings["steps_per_epoch"] = 5 + fold  # follows the fold's train size: must not split a method
    metrics = {
        "arch": arch,
        "strategy": strategy,
        "seed": seed,
        "trainable_params": 10,
        "total_params": 20,
        "wall_s": 1.0,
        "epochs": 1,
        "val_acc": [acc],
        "val_acc_best": acc,
        "best_epoch": 1,
        "val_acc_last": acc,
        "settings": settings,
        **extra,
    }
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    for name in ("val_predictions.csv", "val_predictions_last.csv"):
        with open(run_dir / name, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["path", "true", "pred", "prob", "image", "folds", "fold", "split_seed"])
            for i, (image, true) in enumerate(rows):
                pred = ("bees" if true == "ants" else "ants") if i < wrong else true
                writer.writerow([f"/data/{image}", true, pred, "0.9", image, 2, fold, split_seed])


def write_cv_sweep(root: Path, extra_wrong: list[tuple[int, int]], base_wrong: int = 1) -> Path:
    """alexnet extractor (A) and mixed (B); B gets extra_wrong[i][j] more images wrong on fold j of repeat i."""
    num = 0
    for strategy in ("extractor", "mixed"):
        for split_seed, extra in enumerate(extra_wrong):
            for fold in (0, 1):
                wrong = base_wrong + (extra[fold] if strategy == "mixed" else 0)
                name = f"{num}_data.fold={fold},data.split_seed={split_seed},strategy={strategy}"
                write_fold_run(root / name, strategy, split_seed, fold, wrong)
                num += 1
    return root


def test_five_by_two_design_matches_hand_computed_dietterich_t_and_alpaydin_f(tmp_path):
    sweep = load_sweep(write_cv_sweep(tmp_path / "cv", FIVE_BY_TWO))
    methods = cv_methods(sweep)
    assert [m.label for m in methods] == ["alexnet/extractor", "alexnet/mixed"]
    assert all(len(m.repeats) == 5 and not m.problems for m in methods)
    # Pooled out of fold: each repeat judges all 40 images once; A gets 2 of them wrong.
    assert methods[0].accuracy(3) == pytest.approx(38 / 40)
    (c,) = comparisons(methods)
    # p_ij = extra / 20; s_i² = (p_i1 − p_i2)² / 2 = 0.00125, 0.00125, 0, 0.00125, 0.005: Σ = 0.00875
    assert c.diffs[0] == pytest.approx([0.10, 0.05])
    assert dietterich_t(c.diffs)[0] == pytest.approx(0.10 / math.sqrt(0.00875 / 5))  # 2.3905
    assert dietterich_t(c.diffs)[1] == pytest.approx(0.0623524160, abs=1e-9)
    assert alpaydin_f(c.diffs) == pytest.approx((0.0625 / (2 * 0.00875), 0.0863145701), abs=1e-9)  # F = 25/7
    r = c.result
    assert (r.design, r.test, r.p) == ("5x2 cv", "combined 5x2cv F (Alpaydin)", pytest.approx(0.0863145701))
    assert r.delta == pytest.approx(13 / 200)  # mean over repeats of pooled differences 3, 1, 4, 1, 4 of 40
    assert (r.low, r.high) == pytest.approx((0.065 - 0.1075351533, 0.065 + 0.1075351533))
    assert r.detectable == pytest.approx(0.1460024295, abs=1e-9)  # (t_0.975 + t_0.8 of t(5)) · se
    assert c.p_holm == pytest.approx(r.p)  # one comparison in its family
    assert c.reading() == "inconclusive (Holm-adjusted p = 0.0863)"


def test_a_consistent_lead_is_called_and_the_section_is_in_the_report(tmp_path):
    root = write_cv_sweep(tmp_path / "cv", [(4, 5), (5, 4), (4, 4), (5, 5), (4, 5)])
    (c,) = comparisons(cv_methods(load_sweep(root)))
    assert c.result.p < 0.01 and c.reading() == "alexnet/extractor better"
    text = write_report(root).read_text()
    section = text[text.index("## Cross-validation") :]
    assert "5x2 cv, combined 5x2cv F (Alpaydin)" in section and "alexnet/extractor better" in section
    assert "5x2cv paired t (Dietterich): t = " in section
    assert "| alexnet/extractor | 0 | 5 | 0: 0.950, 1: 0.950" in section  # pooled accuracy per repeat


def test_other_designs_use_the_corrected_resampled_t(tmp_path):
    (c,) = comparisons(cv_methods(load_sweep(write_cv_sweep(tmp_path / "cv", FIVE_BY_TWO[:3]))))
    # 6 differences 0.10, 0.05, 0.05, 0, 0.10, 0.10: mean 1/15, sample variance 1/600, n_test/n_train = 1
    t, p, se, df = corrected_resampled_t(c.diffs, 1.0)
    assert (t, se, df) == pytest.approx((1.5118578920, math.sqrt((1 / 6 + 1) / 600), 5))
    assert p == pytest.approx(0.1909723034, abs=1e-9)
    assert (c.result.design, c.result.test) == ("2-fold cv, 3 repeats", "corrected resampled t (Nadeau & Bengio)")
    assert c.result.p == pytest.approx(p)


def test_a_repeat_missing_a_fold_is_left_out_and_said(tmp_path):
    root = write_cv_sweep(tmp_path / "cv", FIVE_BY_TWO)
    for run in root.glob("*data.fold=1,data.split_seed=4,strategy=mixed"):
        (run / "metrics.json").unlink()
    methods = cv_methods(load_sweep(root))
    assert sorted(methods[1].repeats) == [0, 1, 2, 3] and methods[1].problems == ["split_seed=4 lacks fold(s) 1"]
    (c,) = comparisons(methods)
    assert c.seeds == [0, 1, 2, 3] and c.result.test == "corrected resampled t (Nadeau & Bengio)"
    for run in root.glob("*data.fold=1*strategy=mixed"):  # no complete repeat left: shown, not compared
        (run / "metrics.json").unlink(missing_ok=True)
    section = write_report(root).read_text().split("## Cross-validation")[1]
    assert "| alexnet/mixed | 0 | 0 | — | — |" in section
    assert "No two methods with common complete repeats to compare." in section


def test_no_spread_where_the_test_measures_it_gives_p_0_or_1():
    # The same lead on both folds of every repeat: F and t are unbounded, p 0; no difference at all: p 1.
    lead, tie = compare([[0.1, 0.1]] * 5, 0.1, 1.0), compare([[0.0, 0.0]] * 5, 0.0, 1.0)
    assert (lead.statistic, lead.p, tie.statistic, tie.p) == (math.inf, 0.0, 0.0, 1.0)
    assert "the variance estimate is 0" in lead.note and (lead.low, lead.high, lead.detectable) == (0.1, 0.1, 0.0)
    assert compare([[0.05, 0.05], [0.05, 0.05]], 0.05, 1.0).p == 0.0  # corrected resampled t: t = inf


@pytest.mark.slow
def test_a_cross_validated_sweep_reports_every_image_once_per_repeat(tiny_data, tmp_path):
    sweep = tmp_path / "sweep"
    args = ["strategy=extractor,mixed", "data.folds=2", "data.fold=0,1", "data.split_seed=0"]
    done = run_cli(["-m", *args, *tiny_sweep(tiny_data, sweep, 64)], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    methods = cv_methods(load_sweep(sweep))
    assert [(m.label, sorted(m.repeats), m.problems) for m in methods] == [
        ("alexnet/extractor", [0], []),
        ("alexnet/mixed", [0], []),
    ]
    pooled = sorted(image for fold in methods[0].repeats[0].values() for image in fold)
    assert pooled == sorted(p.relative_to(tiny_data).as_posix() for p in tiny_data.rglob("*.jpg"))  # all 20 once
    section = (sweep / "report.md").read_text().split("## Cross-validation")[1]
    assert "pooled (20 labelled images)" in section
    family = "Q3 for alexnet (`mixed` vs `extractor` and vs `finetune`) (1)"
    assert f"| alexnet/extractor | alexnet/mixed | {family} | 2-fold cv, 1 repeat, corrected" in section
