"""A real multirun through the CLI: readable run dirs and the sweep summary."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

from conftest import TEST_SIZE


def test_multirun_writes_one_dir_per_run_and_a_summary(tiny_data, tmp_path):
    sweep = tmp_path / "sweep"
    cmd = [
        sys.executable,
        "-m",
        "tl_lightning",
        "-m",
        "arch=alexnet,vgg16",
        "strategy=extractor,finetune",
        "arch.weights=none",
        f"arch.image_size={max(TEST_SIZE['alexnet'], TEST_SIZE['vgg16'])}",
        f"data.root={tiny_data}",
        "data.num_workers=0",
        "trainer=cpu",
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        f"hydra.sweep.dir={sweep}",
    ]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]

    runs = sorted(p.name for p in sweep.iterdir() if p.is_dir() and p.name[0].isdigit())
    assert (sweep / "report.md").is_file()
    # Hydra's override_dirname: every override except paths (data.root, arch.weights, ...).
    expected = [("alexnet", "extractor"), ("alexnet", "finetune"), ("vgg16", "extractor"), ("vgg16", "finetune")]
    assert len(runs) == 4
    for num, (run, (arch, strategy)) in enumerate(zip(runs, expected, strict=True)):
        assert run.startswith(f"{num}_") and "data.root" not in run
        assert {f"arch={arch}", f"strategy={strategy}"} <= set(run.split("_", 1)[1].split(","))
    for run in runs:
        assert (sweep / run / "metrics.json").is_file()
    with open(sweep / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["arch"], r["strategy"]) for r in rows] == [
        ("alexnet", "extractor"),
        ("alexnet", "finetune"),
        ("vgg16", "extractor"),
        ("vgg16", "finetune"),
    ]
    assert all(0.0 <= float(r["val_acc_best"]) <= 1.0 for r in rows)
    assert "| alexnet | extractor |" in (sweep / "summary.md").read_text().replace(
        "| 0_arch=alexnet,strategy=extractor ", ""
    )
