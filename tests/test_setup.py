"""A new user's set-up: one extras list everywhere, the venv activation and CPU wheels in the README,
`make sweep`/`make quick` taking overrides, and TL_WEIGHTS mirroring TL_DATA_DIR."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import compose_cfg

REPO = Path(__file__).resolve().parents[1]


def test_one_extras_list_in_makefile_ci_and_readme():
    makefile = re.search(r"^EXTRAS := (\S+)$", (REPO / "Makefile").read_text(), re.M).group(1)
    ci = re.findall(r'pip install --quiet -e "\.\[([^\]]+)\]"', (REPO / ".ci" / "run").read_text())
    readme = re.findall(r'pip install -e "\.\[([^\]]+)\]"', (REPO / "README.md").read_text())
    assert ci == [makefile] and readme and set(readme) == {makefile}


def test_readme_says_to_activate_the_venv_and_how_to_get_cpu_wheels():
    readme = (REPO / "README.md").read_text()
    assert ". .venv/bin/activate" in readme
    assert "pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu" in readme


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize(
    ("target", "command"), [("quick", "-m tl_lightning arch=alexnet"), ("sweep", "-m experiment=study")]
)
def test_make_targets_pass_args_as_overrides(target, command):
    args = "data.root=/some/data arch.weights=/some/weights"
    done = subprocess.run(["make", "-n", target, f"ARGS={args}"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert command in last and last.endswith(args)


def test_tl_weights_sets_the_default_of_arch_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TL_WEIGHTS", str(tmp_path / "weights"))
    for arch in ("alexnet", "vgg16", "inception_v3"):
        assert compose_cfg([f"arch={arch}"], tmp_path).arch.weights == str(tmp_path / "weights")
    assert compose_cfg(["arch.weights=none"], tmp_path).arch.weights == "none"
