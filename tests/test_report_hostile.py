"""Whatever a crashed or hostile job left in its folder, the report and the summary still render."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from report_fixtures import section, write_run
from tl_lightning.report.answers.winner import answer_winner
from tl_lightning.report.groups import load_sweep

SRC = Path(__file__).resolve().parents[1] / "src"
BAD_METRICS = {
    "list": ("[]", "metrics.json holds a list, not a JSON object"),
    "null": ("null", "metrics.json holds null, not a JSON object"),
    "string": ('"done"', "metrics.json holds a str, not a JSON object"),
    "garbage": ("{not json", "metrics.json unreadable"),
    "nan": (None, "metrics.json: val_acc_last is nan, not an accuracy in [0, 1]"),
    "params": (None, "metrics.json: trainable_params is 'many', not an integer"),
    "wall": (None, "metrics.json: wall_s is inf, not a number of seconds"),
}


def hostile_sweep(root: Path) -> Path:
    sweep = root / "sweep"
    write_run(sweep / "0_good", "alexnet", "extractor", (135, 138))
    write_run(sweep / "1_good", "vgg16", "extractor", (140, 141))
    for num, (name, (text, _)) in enumerate(BAD_METRICS.items(), start=2):
        run = write_run(sweep / f"{num}_{name}", "vgg16", "finetune", (150, 150), seed=num)
        metrics = json.loads((run / "metrics.json").read_text())
        if name == "nan":
            metrics["val_acc_last"] = float("nan")  # json.dumps writes NaN, json.loads reads it back
            text = json.dumps(metrics)
        elif name == "params":
            text = json.dumps(metrics | {"trainable_params": "many"})
        elif name == "wall":
            text = json.dumps(metrics | {"wall_s": float("inf")})
        (run / "metrics.json").write_text(text)
    binary = write_run(sweep / "9_binary", "alexnet", "finetune", (150, 150))
    (binary / "val_predictions_last.csv").write_bytes(os.urandom(64) + b"\x00\xff")
    garbage = write_run(sweep / "10_garbage", "alexnet", "finetune", (150, 150), seed=1)
    (garbage / "val_predictions.csv").write_text("path,true\nx,ants\n")
    badprob = write_run(sweep / "11_badprob", "alexnet", "finetune", (150, 150), seed=2)
    rows = (badprob / "val_predictions_last.csv").read_text().replace("0.6000", "nan", 1)
    (badprob / "val_predictions_last.csv").write_text(rows)
    failed = sweep / "12_arch=alexnet,strategy=mixed"
    (failed / ".hydra").mkdir(parents=True)
    (failed / "failure.txt").write_text("RuntimeError: CUDA out of memory | tried 2 GiB\nsecond line\n")
    return sweep


def test_hostile_run_folders_are_listed_as_bad_runs_by_the_real_command(tmp_path):
    sweep = hostile_sweep(tmp_path)
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    cmd = [sys.executable, "-m", "tl_lightning.report", str(sweep)]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    report = (sweep / "report.md").read_text()
    problems = section(report, "## Missing or failed runs")
    for num, (name, (_, reason)) in enumerate(BAD_METRICS.items(), start=2):
        assert f"- `{num}_{name}`: {reason}" in problems
    assert "- `9_binary`: val_predictions_last.csv " in problems
    assert "- `10_garbage`: val_predictions.csv lacks the columns path,true,pred,prob" in problems
    assert "- `11_badprob`: val_predictions_last.csv line 2 is not path,true,pred,prob" in problems
    failure = "failed: RuntimeError: CUDA out of memory / tried 2 GiB"
    assert f"- `12_arch=alexnet,strategy=mixed`: {failure}" in problems
    assert "2 finished runs, 11 missing or failed" in report

    with open(sweep / "summary.csv", newline="") as f:
        status = {row["run"]: row["status"] for row in csv.DictReader(f)}
    assert status["0_good"] == "ok"
    assert status["12_arch=alexnet,strategy=mixed"] == failure
    assert status["4_string"] == "failed: metrics.json holds a str, not a JSON object"
    assert f"| 12_arch=alexnet,strategy=mixed | {failure} | alexnet | mixed |" in (sweep / "summary.md").read_text()


def test_a_nan_accuracy_never_wins(tmp_path):
    sweep = tmp_path / "sweep"
    write_run(sweep / "0_run", "alexnet", "extractor", (135, 138))
    nan_run = write_run(sweep / "1_run", "vgg16", "extractor", (150, 150))
    metrics = json.loads((nan_run / "metrics.json").read_text())
    (nan_run / "metrics.json").write_text(json.dumps(metrics | {"val_acc_last": float("nan")}))
    loaded = load_sweep(sweep)
    assert [c.label for c in loaded.cells] == ["alexnet/extractor"]
    text = "\n".join(answer_winner(loaded))
    assert "Highest last-epoch val accuracy: alexnet/extractor 0.882" in text
    assert "nan" not in text.lower()


def test_a_run_that_finished_after_its_failure_was_written_counts(tmp_path):
    sweep = tmp_path / "sweep"
    run = write_run(sweep / "0_run", "alexnet", "extractor", (135, 138))
    (run / "failure.txt").write_text("killed\n")
    os.utime(run / "failure.txt", (1, 1))  # the failure predates the metrics of the resumed, finished run
    assert load_sweep(sweep).ok_runs[0].name == "0_run"
    os.utime(run / "metrics.json", (0, 0))  # metrics from an earlier attempt, then a failure
    assert load_sweep(sweep).problems[0].problem == "failed: killed"
