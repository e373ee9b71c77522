"""Typos on the command line are refused before any work, naming the nearest valid choice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import MissingConfigException

from tl_lightning.conf import CONF_DIR
from tl_lightning.run.config.overrides import OverrideError, check_command_line
from tl_lightning.run.config.schema import register_schema

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("typo", "hint"),
    [
        ("debug=fsat", "did you mean debug=fast?"),  # Hydra alone: ten lines, no nearest option
        ("experiment=studdy", "did you mean experiment=study?"),
        ("+lr=0.01", "did you mean optimizer.lr?"),  # Hydra's own advice for lr=0.01; it changed nothing
        ("optimizer.learning_rate=0.01", "it takes lr, betas"),  # an open node: failed only after the data scan
    ],
)
def test_a_typo_is_refused_before_any_work_naming_the_nearest_choice(typo, hint, tiny_data, tmp_path):
    run = tmp_path / "run"
    args = [typo, f"data.root={tiny_data}", "arch.weights=none", "arch.image_size=64", "trainer=cpu"]
    args += ["trainer.max_epochs=1", "data.num_workers=0", f"hydra.run.dir={run}"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "tl_lightning", *args], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1].startswith("error: ") and hint in done.stderr
    assert done.stdout == ""  # no config dump, no scan: nothing ran
    assert not run.exists()


@pytest.fixture
def check():
    register_schema()
    GlobalHydra.instance().clear()
    yield check_command_line
    GlobalHydra.instance().clear()


@pytest.mark.parametrize(("override", "option"), [("debug=fsat", "fast"), ("experiment=studdy", "study")])
def test_hydra_itself_refuses_an_unknown_debug_or_experiment_and_lists_the_options(check, override, option):
    # Not `optional` groups: Hydra skipped an unknown option of those and ran a full run.
    with (
        initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)),
        pytest.raises(MissingConfigException) as refused,
    ):
        compose("config", overrides=[override])
    assert option in refused.value.options


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["-m", "arch=alexnet,vggg16"], "arch=vggg16 is unknown: did you mean arch=vgg16?"),
        (["callbacks=[default,early_stop]"], "did you mean callbacks=early_stopping?"),
        (["strategy.unfrezee=3"], "did you mean strategy.unfreeze?"),
        (["data.num_worker=0"], "did you mean data.num_workers?"),
        (["-m", "optimizer=adam,sgd", "optimizer.momentum=0.9"], "(in the job with optimizer=adam)"),
        (["+trainer.foo=1"], "lightning.Trainer) has no setting 'foo'"),
        (["trainer.max_epoch=2"], "did you mean trainer.max_epochs?"),
        (["scheduler.stepsize=3"], "did you mean scheduler.step_size?"),
        (["experiment=study", "lr=0.01"], "lr is not a setting: did you mean optimizer.lr?"),
        (["debug=null"], "debug=null names no option of debug: to leave the group out, write ~debug"),
    ],
)
def test_sweeps_lists_and_closed_nodes_are_checked_too(check, argv, hint):
    with pytest.raises(OverrideError) as refused:
        check(argv)
    assert hint in str(refused.value)


@pytest.mark.parametrize(
    "argv",
    [
        ["optimizer=sgd", "optimizer.momentum=0.9"],
        ["-m", "experiment=study", "debug=fast", "optimizer.lr=1e-3,1e-4", "seed=0,1"],
        ["callbacks=[default,early_stopping]", "callbacks.early_stopping.patience=3"],
        ["+callbacks.pause._target_=pause_helper.PauseAt", "hydra/launcher=joblib", "hydra.run.dir=/x"],
        ["arch=torchvision", "arch.name=resnet18", "arch.weights=none", "trainer.devices=2", "resume=true"],
        ["-m", "hydra/sweeper=optuna_lr", "optimizer.lr=interval(1e-5,1e-2)"],
    ],
)
def test_valid_command_lines_pass(check, argv):
    check(argv)
