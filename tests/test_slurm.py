"""hydra/launcher=slurm against a live scheduler: the walkthrough of docs/scale_out.md, run for real.

Needs a SLURM cluster with accounting: `.ci/slurm-cluster.sh start` makes one on this machine (Debian/Ubuntu,
root) and .ci/run starts it before the tests. Without one these tests skip, saying so. They are `slow` too, so
the default `pytest` leaves them out and `pytest -m "slow or not slow"` (CI) runs them. Each run is a
1-5 epoch AlexNet on the tiny generated images, each command bounded by a subprocess timeout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import compose_cfg
from test_ddp import TOL, _data, _overrides
from tl_lightning.run.train import train

REPO = Path(__file__).resolve().parents[1]
CLUSTER = REPO / ".ci" / "slurm-cluster.sh"
pytestmark = [pytest.mark.slurm, pytest.mark.slow]
TINY = ["arch=alexnet", "arch.weights=none", "arch.image_size=64", "data.num_workers=0", "quiet=true"]


@pytest.fixture(scope="module")
def slurm_env() -> dict[str, str]:
    """The environment of a shell that can submit to the test cluster; skip when there is none."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    start = f"start one with `{CLUSTER.relative_to(REPO)} start` (root on Debian/Ubuntu)"
    if shutil.which("sinfo") is None:
        pytest.skip(f"no SLURM client (sinfo) on this machine: {start}")
    conf = os.environ.get("SLURM_CONF") or subprocess.run([CLUSTER, "conf"], capture_output=True, text=True).stdout
    env = {**os.environ, "SLURM_CONF": conf.strip(), "PYTHONWARNINGS": "ignore"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO / "tests")])
    env.pop("HYDRA_FULL_ERROR", None)
    if not Path(env["SLURM_CONF"]).is_file():
        pytest.skip(f"no SLURM cluster: SLURM_CONF={env['SLURM_CONF']} does not exist: {start}")
    try:
        probe = subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.skip(f"no SLURM cluster answers within 30 s (SLURM_CONF={env['SLURM_CONF']}): {start}")
    if probe.returncode != 0 or not set(probe.stdout.split()) & {"idle", "mix", "alloc"}:
        pytest.skip(f"no SLURM cluster answers (SLURM_CONF={env['SLURM_CONF']}: {probe.stderr.strip()}): {start}")
    return env


def _sweep(env: dict, args: list[str], cwd: Path, timeout: int = 600) -> subprocess.Popen:
    command = [sys.executable, "-m", "tl_lightning", "-m", "hydra/launcher=slurm", *args]
    return subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen, timeout: int) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the sweep did not end within {timeout} s:\n{err[-3000:]}")
    return proc.returncode, out, err


def test_cpu_sweep_reports_a_cancelled_job_and_finishes_the_other(slurm_env, tiny_data, tmp_path):
    """trainer=cpu alone is enough on a CPU partition; scancel of one job is a failed run with SLURM's reason."""
    sweep = tmp_path / "sweep"
    pause = ["+callbacks.pause._target_=pause_helper.PauseAt", "+callbacks.pause.epoch=0", "+callbacks.pause.batch=0"]
    args = ["trainer=cpu", "strategy=extractor,mixed", "trainer.max_epochs=1", *TINY, *pause]
    args += ["+callbacks.pause.only_in=1_", f"data.root={tiny_data}", f"hydra.sweep.dir={sweep}"]
    proc = _sweep(slurm_env, args, tmp_path)
    deadline = time.monotonic() + 400
    while not list(sweep.glob("1_*/paused")):  # job 1 is training: cancel it as a user would
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-3000:]
        time.sleep(2)
    (array_task,) = [p.name for p in (sweep / ".submitit").iterdir() if p.name.endswith("_1")]
    subprocess.run(["scancel", array_task], env=slurm_env, check=True)
    code, out, err = _finish(proc, 400)
    assert code == 1, err[-3000:]
    assert "Traceback" not in err
    assert (sweep / "summary.md").is_file() and (sweep / "report.md").is_file()
    (finished,) = sweep.glob("0_*/metrics.json")
    (cancelled,) = sweep.glob("1_*")
    assert f"SLURM job {array_task} CANCELLED" in (cancelled / "failure.txt").read_text()
    assert "1 of 2 runs failed" in err and f"SLURM job {array_task} CANCELLED" in err


def test_a_refused_submission_is_one_error_line(slurm_env, tiny_data, tmp_path):
    """The default trainer asks for a GPU: a CPU-only partition refuses it, and the user is told which setting."""
    proc = _sweep(slurm_env, [*TINY, f"data.root={tiny_data}", f"hydra.sweep.dir={tmp_path / 's'}"], tmp_path)
    code, out, err = _finish(proc, 300)
    assert code == 2, err[-3000:]
    lines = [line for line in err.splitlines() if line.strip() and "[HYDRA]" not in line]
    assert len(lines) == 1 and lines[0].startswith("error: sbatch refused") and "gpus_per_node=1" in lines[0]


def test_a_job_that_can_never_start_is_cancelled_with_squeue_s_reason(slurm_env, tiny_data, tmp_path):
    sweep = tmp_path / "s"
    args = ["trainer=cpu", "hydra.launcher.cpus_per_task=64", *TINY, f"data.root={tiny_data}"]
    code, out, err = _finish(_sweep(slurm_env, [*args, f"hydra.sweep.dir={sweep}"], tmp_path), 300)
    assert code == 1 and "Traceback" not in err, err[-3000:]
    assert "PENDING (PartitionConfig" in err and (sweep / "summary.md").is_file()


def test_ddp_over_srun_tasks_matches_one_process(slurm_env, tmp_path):
    """2 srun tasks of one job, trainer=ddp on CPU (gloo): the run-folder lock is taken once, metrics as one process."""
    data = _data(tmp_path / "data")
    single = tmp_path / "single"
    train(compose_cfg([*_overrides(data, 12), "trainer=cpu"], single))
    sweep = tmp_path / "sweep"
    args = [*_overrides(data, 6), "trainer=ddp", "trainer.devices=2", "quiet=true", f"hydra.sweep.dir={sweep}"]
    code, out, err = _finish(_sweep(slurm_env, args, tmp_path), 600)
    assert code == 0, err[-3000:]
    (ddp_metrics,) = sweep.glob("*/metrics.json")
    ddp, one = json.loads(ddp_metrics.read_text()), json.loads((single / "metrics.json").read_text())
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert ddp[key] == pytest.approx(one[key], abs=TOL), key
    assert ddp["test_acc_best_checkpoint"] == pytest.approx(one["test_acc_best_checkpoint"], abs=TOL)
    (task_log,) = (sweep / ".submitit").glob("*/*_1_log.out")  # rank 1 ran as the second srun task
    assert task_log.is_file()


def test_a_job_past_its_time_limit_is_requeued_and_resumes_exactly(slurm_env, tiny_data, tmp_path):
    """timeout_min=3 for a run whose first attempt would take 5 minutes (a minute's sleep after each epoch):
    SLURM warns (USR2, 45 s before the limit or up to 60 s earlier, so after the first epoch's checkpoint even
    on a loaded machine), the job requeues itself, resumes from last.ckpt without resume=true, and its
    per-epoch metrics equal an uninterrupted run's."""
    epochs = ["strategy=extractor", "trainer.max_epochs=5", f"data.root={tiny_data}"]
    reference = train(compose_cfg([*TINY, *epochs, "trainer=cpu"], tmp_path / "reference"))
    sweep = tmp_path / "sweep"
    slow = ["+callbacks.slow._target_=pause_helper.SlowEpochs", "+callbacks.slow.seconds=60"]
    args = ["trainer=cpu", *TINY, *epochs, *slow, "hydra.launcher.timeout_min=3", f"hydra.sweep.dir={sweep}"]
    code, out, err = _finish(_sweep(slurm_env, args, tmp_path), 900)
    assert code == 0, err[-3000:]
    (metrics,) = sweep.glob("*/metrics.json")
    requeued = json.loads(metrics.read_text())
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert requeued[key] == reference[key], key
    (log,) = (sweep / ".submitit").glob("*/*_0_log.out")  # every attempt appends to it
    assert "Caught signal SIGUSR2" in log.read_text() and "Requeued job" in log.read_text()
    assert "Resuming from" in log.read_text() and "resume=true" not in " ".join(args)
