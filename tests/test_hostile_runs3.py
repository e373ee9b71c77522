"""Hostile run folders, third round (issue 20): a refused run removes only what it created, never touches a
folder another run holds, and two sweeps sharing one folder each report their own jobs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from PIL import Image

import tl_lightning
from conftest import write_image_folder
from test_resume import cli_overrides
from test_sweep import tiny_sweep
from tl_lightning.conf import CONF_DIR
from tl_lightning.run.config.schema import register_schema
from tl_lightning.run.inputs.prepare import InputsError, prepare_sweep

SRC = Path(tl_lightning.__file__).resolve().parents[1]  # the source under test, also in the subprocesses
TESTS = Path(__file__).resolve().parent


def start(args: list[str], cwd: Path, sweep: bool = False, **env: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(TESTS)]), "PYTHONWARNINGS": "ignore", **env}
    env.pop("HYDRA_FULL_ERROR", None)
    cmd = [sys.executable, "-m", "tl_lightning", *(["-m"] if sweep else []), *args]
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: int = 400) -> tuple[int, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out + err


def wait_for(root: Path, pattern: str, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not any(root.glob(pattern)):
        assert proc.poll() is None and time.monotonic() < deadline, finish(proc)[1][-3000:]
        time.sleep(0.1)


@pytest.mark.slow
def test_a_refused_run_leaves_a_folder_it_did_not_make_as_it_was(tiny_data, tmp_path):
    logs = tmp_path / "mylogs"
    logs.mkdir()
    (logs / "server.log").write_text("precious\n")
    code, output = finish(start([f"data.root={tiny_data}", "optimizer.lr=0", "hydra.run.dir=mylogs"], tmp_path))
    assert code == 2 and "error: Invalid configuration:" in output, output[-3000:]
    assert sorted(p.name for p in logs.iterdir()) == ["server.log"]
    assert (logs / "server.log").read_text() == "precious\n"


@pytest.mark.slow
def test_a_refused_rerun_puts_back_the_record_of_the_run_in_its_folder(tiny_data, tmp_path):
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text("the finished run's config\n")
    (run / "train.log").write_text("the finished run's log\n")
    code, output = finish(start([f"data.root={tiny_data}", "optimizer.lr=0", f"hydra.run.dir={run}"], tmp_path))
    assert code == 2, output[-3000:]
    assert (run / ".hydra" / "config.yaml").read_text() == "the finished run's config\n"
    assert sorted(p.name for p in (run / ".hydra").iterdir()) == ["config.yaml"]
    assert (run / "train.log").read_text().startswith("the finished run's log\n")
    assert sorted(p.name for p in run.iterdir()) == [".hydra", "train.log"]


@pytest.mark.slow
def test_runs_refused_from_a_busy_folder_leave_the_active_run_intact(tiny_data, tmp_path):
    run = tmp_path / "run"
    args = [*cli_overrides(tiny_data), "+callbacks.wait._target_=pause_helper.WaitFor", f"hydra.run.dir={run}"]
    args.remove("+callbacks.pause._target_=pause_helper.PauseAt")
    first = start(args, tmp_path, TL_TEST_GO=str(tmp_path / "go"))
    try:
        wait_for(run, "waiting", first)
        record = {p.name: p.read_bytes() for p in (run / ".hydra").iterdir()}
        for attempt in ("second", "third"):
            code, output = finish(start([*args, "trainer.max_epochs=1"], tmp_path, TL_TEST_GO=str(tmp_path / "go")))
            assert code == 2 and f"Run folder {run} is in use by pid {first.pid}" in output, (attempt, output[-3000:])
            assert {p.name: p.read_bytes() for p in (run / ".hydra").iterdir()} == record, attempt
            assert (run / "train.log").is_file() and (run / ".tl-run.lock").is_file(), attempt
        (tmp_path / "go").touch()
        code, output = finish(first)
        assert code == 0, output[-3000:]
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert (run / "metrics.json").is_file()


@pytest.mark.slow
def test_two_sweeps_into_one_folder_each_report_their_own_jobs(tiny_data, tmp_path):
    sweep = tmp_path / "sweep"
    args = ["arch=alexnet", "strategy=extractor,finetune", *tiny_sweep(tiny_data, sweep, 64)]
    args.append("+callbacks.wait._target_=pause_helper.WaitFor")
    env = {"TL_TEST_GO": str(tmp_path / "go"), "TL_TEST_WAIT_IN": "0_"}
    first = start(args, tmp_path, sweep=True, **env)
    try:
        wait_for(sweep, "0_*/waiting", first)
        # The second, identical sweep: its job 0 finds the first's job 0 training, its job 1 runs.
        code, output = finish(start(args, tmp_path, sweep=True, **env))
        assert code == 1, output[-3000:]
        assert "1 of 2 runs failed:\n  0_" in output and f"is in use by pid {first.pid}" in output, output[-3000:]
        (tmp_path / "go").touch()
        code, output = finish(first)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert code == 0 and "runs failed" not in output, output[-3000:]
    runs = sorted(p for p in sweep.iterdir() if p.is_dir() and p.name[0].isdigit())
    assert len(runs) == 2
    for run in runs:
        assert (run / "metrics.json").is_file() and not (run / "failure.txt").exists(), run.name


def _sweep_config(overrides: list[str]):
    GlobalHydra.instance().clear()
    register_schema()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        return compose("config", overrides=overrides, return_hydra_config=True)


def test_a_sweep_does_not_download_into_a_data_root_that_is_likely_a_typo(tmp_path, archive):
    url, _ = archive
    typo = tmp_path / "hymenoptera_dta"
    config = _sweep_config([f"data.root={typo}", f"data.url={url}", "arch.weights=none"])
    with pytest.raises(InputsError, match="is downloaded automatically only into the default data.root"):
        prepare_sweep(config)
    assert not typo.exists()


def test_a_sweep_checks_images_against_its_own_pixel_limit(tmp_path):
    root = write_image_folder(tmp_path / "data", {"train": 1, "val": 1})
    Image.new("L", (6500, 6500)).save(root / "train" / "ants" / "big.png")  # 42 M pixels, a few kB
    prepare_sweep(_sweep_config([f"data.root={root}", "data.max_image_pixels=50000000", "arch.weights=none"]))
    with pytest.raises(InputsError, match="big.png: declares 6500x6500"):
        prepare_sweep(_sweep_config([f"data.root={root}", "arch.weights=none"]))


def test_a_sweep_downloads_from_its_own_data_url(tmp_path):
    url = (tmp_path / "mirror" / "hymenoptera_data.zip").as_uri()  # absent: the download fails, naming it
    config = _sweep_config([f"data.root={tmp_path / 'data'}", "data.download=true", f"data.url={url}"])
    with pytest.raises(InputsError, match=f"the download from {url} failed"):
        prepare_sweep(config)


@pytest.mark.slow
def test_a_fifo_planted_as_the_run_lock_is_named_not_a_traceback_or_a_hang(tiny_data, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    os.mkfifo(run / ".tl-run.lock")
    code, output = finish(start([f"data.root={tiny_data}", f"hydra.run.dir={run}"], tmp_path), timeout=120)
    assert code == 2 and f"error: {run / '.tl-run.lock'} is not a regular file" in output, output[-3000:]
    assert "Traceback" not in output
