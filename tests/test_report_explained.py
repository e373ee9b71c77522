"""Issue 19, the report side: per arch the strategies' pictures side by side and the measured separability, and
the answers cite those numbers (random frozen features said as such)."""

from __future__ import annotations

import json
from pathlib import Path

from report_fixtures import section, write_sweep
from tl_lightning.report import write_report

PROBE = {"extractor": (0.9, 0.9), "finetune": (0.9, 0.85), "mixed": (0.9, 0.95)}  # (before, after)


def _explain(sweep: Path, weights: str | None = None) -> None:
    """Give every finished run the feature_space and pictures a run with explanations writes."""
    for metrics_file in sweep.glob("*/metrics.json"):
        metrics = json.loads(metrics_file.read_text())
        before, after = PROBE[metrics["strategy"]]
        metrics["feature_space"] = {
            "before": {"knn_acc": before - 0.01, "probe_acc": before, "silhouette": 0.1},
            "after": {"knn_acc": after - 0.01, "probe_acc": after, "silhouette": 0.2},
            "skipped": [],
        }
        if weights is not None:
            metrics["settings"]["weights"] = weights
        metrics_file.write_text(json.dumps(metrics))
        for name in ("features.png", "saliency.png"):
            (metrics_file.parent / name).write_bytes(b"\x89PNG")


def test_the_report_shows_each_archs_strategies_side_by_side_with_their_separability(tmp_path):
    sweep = write_sweep(tmp_path)
    _explain(sweep)
    report = write_report(sweep).read_text()
    why = section(report, "## Why: feature space and saliency")
    alexnet = why[why.index("### alexnet") : why.index("### vgg16")]
    assert "| extractor | 0 | 0.890 | 0.900 | 0.100 | 0.890 | 0.900 | 0.200 |" in alexnet
    assert "| finetune | 0 | 0.890 | 0.900 | 0.100 | 0.840 | 0.850 | 0.200 |" in alexnet
    assert "](0_arch=alexnet,strategy=extractor/features.png)" in alexnet
    assert "](1_arch=alexnet,strategy=finetune/saliency.png)" in alexnet


def test_the_answers_cite_the_measured_separability(tmp_path):
    sweep = write_sweep(tmp_path)
    _explain(sweep)
    report = write_report(sweep).read_text()
    freeze = section(report, "### 2. Why can freezing beat fine-tuning here?")
    assert "frozen ImageNet features already give a linear-probe val accuracy of 0.900 [Wilson 95 % 0.842" in freeze
    assert "fine-tuning moved it to 0.850 [Wilson 95 % 0.785, 0.898] (a change of 7.7 of 153 val images)" in freeze
    assert "descriptive: the runs record no per-image probe predictions, so no paired test compares them" in freeze
    unfreeze = section(report, "### 3. Did unfreezing the last layers help?")
    assert "unfreezing the last groups moved it to 0.950" in unfreeze


def test_random_frozen_features_are_said_to_be_random(tmp_path):
    sweep = write_sweep(tmp_path)
    _explain(sweep, weights="none")
    freeze = section(write_report(sweep).read_text(), "### 2. Why can freezing beat fine-tuning here?")
    assert "frozen features are random (arch.weights=none" in freeze


def test_a_sweep_without_explanations_has_no_such_section(tmp_path):
    report = write_report(write_sweep(tmp_path)).read_text()
    assert "## Why: feature space" not in report and "linear-probe" not in report
