"""Issue 29, items 1–3: a cv sweep's answers come from its cv tests, and a Holm family holds only the comparisons
that answer its question (adding a cell that does not answer it changes no Holm-adjusted p)."""

from __future__ import annotations

from pathlib import Path

import pytest

from report_fixtures import section, write_run
from test_crossval_report import write_fold_run
from tl_lightning.report.crossval import comparisons, cv_methods
from tl_lightning.report.groups import load_sweep
from tl_lightning.report.noise import verdict
from tl_lightning.report.write import write_report

EVEN = [[1, 1]] * 5  # wrong images per (split_seed, fold): 1 of 20 everywhere


def write_cv_method(root: Path, arch: str, strategy: str, wrong: list[list[int]], data: Path | None = None) -> None:
    """The 10 runs of one method of a 5x2 cv; wrong[s][f]: images it gets wrong on fold f of split_seed s."""
    for split_seed, row in enumerate(wrong):
        for fold, count in enumerate(row):
            run_dir = root / f"{len(list(root.glob('*')))}_arch={arch},fold={fold},split={split_seed},s={strategy}"
            write_fold_run(run_dir, strategy, split_seed, fold, count, arch=arch, train_acc=[0.9], data_root=str(data))


def _pair(tested, a: str, b: str):
    return next(c for c in tested if {c.a.label, c.b.label} == {a, b})


def test_a_cv_sweep_answers_from_its_cv_test_not_from_one_fold(tmp_path):
    root = tmp_path / "cv"
    root.mkdir()
    # alexnet loses 8 images on one fold of ten (exact McNemar p = 0.0078 there) and ties elsewhere.
    write_cv_method(root, "alexnet", "extractor", [[9, 1], [1, 2], [2, 1], [1, 1], [1, 1]])
    write_cv_method(root, "mobilenet_v2", "extractor", EVEN)
    report = write_report(root).read_text()
    (c,) = comparisons(cv_methods(load_sweep(root)))
    assert c.result.p > 0.05  # the cv test does not separate them
    q4 = section(report, "### 4. Which network won")
    assert "won**" not in q4 and "**No clear winner** in Q4 under `extractor`" in q4
    assert "combined 5x2cv F (Alpaydin) p = " in q4 and "every answer below is the cross-validation test" in q4
    assert "Why:" not in q4
    noise = section(report, "## Which differences exceed the noise")
    assert "never read as a verdict" in noise and "| one fold: not a verdict |" in noise
    assert "mobilenet_v2/extractor better" not in noise


@pytest.mark.slow
def test_cv_families_are_per_question_and_arch_or_strategy(tmp_path):
    root = tmp_path / "cv"
    root.mkdir()
    write_cv_method(root, "alexnet", "extractor", [[4, 5], [5, 4], [4, 4], [5, 5], [4, 5]])
    write_cv_method(root, "alexnet", "mixed", [[3, 2], [2, 3], [3, 3], [2, 2], [3, 2]])
    write_cv_method(root, "mobilenet_v2", "extractor", EVEN)
    write_cv_method(root, "mobilenet_v2", "mixed", [[1, 2], [2, 1], [1, 1], [2, 2], [1, 1]])
    before = comparisons(cv_methods(load_sweep(root)))
    q3, q4 = "alexnet/extractor", "mobilenet_v2/extractor"
    # Mixed runs of a third arch: no part of Q4 under `extractor`.
    write_cv_method(root, "vgg16", "mixed", [[1, 1], [2, 1], [1, 2], [2, 2], [1, 1]])
    after = comparisons(cv_methods(load_sweep(root)))
    assert _pair(after, q3, q4).p_holm == _pair(before, q3, q4).p_holm < 1
    assert _pair(after, q3, q4).family == "Q4 under `extractor` (pairs of archs)"
    # Its extractor runs: no part of Q3 for alexnet (alexnet's `mixed` vs `extractor`).
    write_cv_method(root, "vgg16", "extractor", [[1, 2], [2, 1], [1, 2], [2, 2], [1, 1]])
    last = comparisons(cv_methods(load_sweep(root)))
    unfreeze = _pair(last, q3, "alexnet/mixed")
    assert unfreeze.p_holm == _pair(before, q3, "alexnet/mixed").p_holm < 1 and unfreeze.family_size == 1
    assert unfreeze.family.startswith("Q3 for alexnet")
    text = write_report(root).read_text()
    assert "Q4 per strategy (every pair of archs under it)" in section(text, "## Cross-validation")
    assert "| Q3 for alexnet (`mixed` vs `extractor` and vs `finetune`) (1) |" in text


def test_a_val_split_q4_family_holds_one_strategy(tmp_path):
    root = tmp_path / "sweep"
    cells = {("alexnet", "extractor"): 135, ("alexnet", "mixed"): 136, ("vgg16", "mixed"): 143}
    for i, ((arch, strategy), k) in enumerate(cells.items()):
        write_run(root / f"{i}_arch={arch},strategy={strategy}", arch, strategy, (k, k))
    sweep = load_sweep(root)
    first = verdict(sweep, sweep.cell("alexnet", "mixed"), sweep.cell("vgg16", "mixed"))
    write_run(root / "9_arch=vgg16,strategy=extractor", "vgg16", "extractor", (137, 137))
    sweep = load_sweep(root)
    again = verdict(sweep, sweep.cell("alexnet", "mixed"), sweep.cell("vgg16", "mixed"))
    assert (again.p_holm, again.family_size) == (first.p_holm, 1) and first.p_holm < 0.05
    assert again.family == "Q4 under `mixed` (pairs of archs)"
    report = write_report(root).read_text()
    assert "Q4 per strategy (every pair of archs under it)" in report.split("## Results")[0]
