"""Every command answers --help with its usage and examples, exit status 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def help_of(module: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, "-m", module, "--help"]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("tool", ["predict", "evaluate", "export", "prefetch", "report", "explain"])
def test_tools_print_usage_and_examples(tool):
    done = help_of(f"tl_lightning.{tool}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"usage: python -m tl_lightning.{tool}" in done.stdout
    assert "examples:" in done.stdout and done.stdout.count(f"python -m tl_lightning.{tool} ") >= 2


def test_main_help_lists_the_groups_and_the_study_command():
    done = help_of("tl_lightning")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage: python -m tl_lightning" in done.stdout and "is powered by Hydra" not in done.stdout
    for group in (
        "arch: alexnet,",
        "strategy: extractor, finetune, mixed",
        "experiment: study",
        "debug: fast, limit, overfit, profiler",
        "logger: csv, mlflow, tensorboard",
    ):
        assert group in done.stdout
    assert "python -m tl_lightning -m experiment=study" in done.stdout
