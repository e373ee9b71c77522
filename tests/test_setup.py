"""A new user's set-up: one extras list everywhere, the venv activation and CPU wheels in the README,
`make sweep`/`make quick` taking overrides, and TL_WEIGHTS mirroring TL_DATA_DIR."""

from __future__ import annotations

import os
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


# Variables through which an enclosing make (e.g. `make test` running this suite) reaches a sub-make.
MAKE_ENV = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")


def dry_run(*args: str) -> list[str]:
    """The commands `make -n ARGS` would run, as if typed in a shell: an enclosing make (this suite under
    `make test`) would otherwise add `make[1]: Entering/Leaving directory` lines and pass on its flags."""
    env = {k: v for k, v in os.environ.items() if k not in MAKE_ENV}
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", *args], cwd=REPO, capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("inside_make", [False, True], ids=["shell", "inside-make"])
@pytest.mark.parametrize(
    ("target", "command"), [("quick", "-m tl_lightning arch=alexnet"), ("sweep", "-m experiment=study")]
)
def test_make_targets_pass_args_as_overrides(target, command, inside_make, monkeypatch):
    if inside_make:  # what `make test` hands the suite: a sub-make prints directory lines and inherits flags
        monkeypatch.setenv("MAKELEVEL", "1")
        monkeypatch.setenv("MAKEFLAGS", "w -- ARGS=from_the_outer_make")
    args = "data.root=/some/data arch.weights=/some/weights"
    last = dry_run(target, f"ARGS={args}")[-1]
    assert command in last and last.endswith(args)


def recipe(target: str) -> str:
    """The command line of a Makefile target's recipe (its last line)."""
    text = (REPO / "Makefile").read_text()
    return re.search(rf"^{re.escape(target)}:.*\n(?:\t.*\n)*?\t(.+)\n(?!\t)", text, re.M).group(1)


def test_ci_runs_the_readme_test_commands_through_make():
    ci = [line for line in (REPO / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci[-1] == 'make test-full VENV="$venv"'
    # make test-full is make test plus the slow tests, and both are the README's two pytest commands.
    fast, full = recipe("test"), recipe("test-full")
    assert fast == "$(PY) -m pytest -q -n auto --dist loadfile $(PYTEST_ARGS)"
    assert full == '$(PY) -m pytest -q -n auto --dist loadfile -m "slow or not slow" $(PYTEST_ARGS)'
    readme = (REPO / "README.md").read_text()
    for line in (fast, full):
        assert line.replace("$(PY)", "python").replace(" $(PYTEST_ARGS)", "") in readme
    assert "make test " in readme


def test_tl_weights_sets_the_default_of_arch_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TL_WEIGHTS", str(tmp_path / "weights"))
    for arch in ("alexnet", "vgg16", "inception_v3"):
        assert compose_cfg([f"arch={arch}"], tmp_path).arch.weights == str(tmp_path / "weights")
    assert compose_cfg(["arch.weights=none"], tmp_path).arch.weights == "none"
