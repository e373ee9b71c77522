"""Bad input ends as one clean message (no traceback, real newlines, exit 2) and leaves no run folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.errors import InstantiationException

from tl_lightning.errors import UserError
from tl_lightning.model.weights import WeightsError
from tl_lightning.run.folder.failures import user_message
from tl_lightning.run.inputs import prepare

REPO = Path(__file__).resolve().parents[1]


def run_cli(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "PYTHONWARNINGS": "ignore", **env}
    full_env.pop("HYDRA_FULL_ERROR", None)
    cmd = [sys.executable, "-m", "tl_lightning", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=full_env, timeout=300)


def assert_one_clean_message(done: subprocess.CompletedProcess, *needles: str) -> None:
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "\\n" not in done.stderr, done.stderr
    assert done.stderr.count("error: ") == 1, done.stderr
    for needle in needles:
        assert needle in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("override", "key"), [("trainer.max_epochs=abc", "trainer.max_epochs"), ("optimizer.lr=abc", "optimizer.lr")]
)
def test_a_number_given_as_text_is_a_config_error(override, key, tiny_data, tmp_path):
    run_dir = tmp_path / "run"
    done = run_cli([override, f"data.root={tiny_data}", f"hydra.run.dir={run_dir}"], tmp_path)
    assert_one_clean_message(done, key, "'abc'")
    assert not run_dir.exists()


@pytest.mark.slow
def test_a_refused_run_names_the_fix_and_leaves_no_folder(tiny_data, tmp_path):
    # Inception-v3 from a weights folder without its file: refused by the config check before any work.
    run_dir = tmp_path / "run"
    (tmp_path / "weights").mkdir()
    args = ["arch=inception_v3", f"arch.weights={tmp_path / 'weights'}", f"data.root={tiny_data}"]
    done = run_cli([*args, f"hydra.run.dir={run_dir}"], tmp_path)
    assert_one_clean_message(
        done, "Invalid configuration:\n  arch.weights=", "arch.weights=none", "tl_lightning.prefetch"
    )
    assert not run_dir.exists()
    assert not (tmp_path / "outputs").exists()


def test_user_errors_inside_hydras_instantiate_wrapper_keep_their_message():
    try:
        try:
            raise WeightsError("line one\nline two")
        except UserError as err:
            raise InstantiationException("Error in call to target 'x':\nWeightsError('line one\\nline two')") from err
    except InstantiationException as wrapped:
        assert user_message(wrapped) == "line one\nline two"
    assert user_message(RuntimeError("a bug")) is None


def test_offline_imagenet_weights_message_names_every_way_out(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # an empty cache

    def offline(arch: str) -> dict:
        raise WeightsError(f"Could not download ImageNet weights for {arch}")

    monkeypatch.setattr(prepare, "imagenet_state_dict", offline)
    problem = prepare.weights_problem("alexnet", "imagenet")
    assert problem is not None
    for way_out in (
        "arch.weights=DIR",
        "TL_WEIGHTS",
        "arch.weights=none",
        "python -m tl_lightning.prefetch arch=alexnet",
    ):
        assert way_out in problem
    with pytest.raises(prepare.InputsError, match="not in the cache"):
        prepare.ensure_imagenet("alexnet")
    assert prepare.weights_problem("alexnet", "none") is None
