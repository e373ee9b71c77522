"""Jobs of a sweep that run side by side take their share of the CPUs (tl_lightning.run.launch.job_share)."""

from __future__ import annotations

import logging

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import open_dict

from tl_lightning.conf import CONF_DIR
from tl_lightning.run.launch import job_share


@pytest.fixture
def restore_hydra_config():
    """_multirun_cfg sets the process-wide HydraConfig; later tests must not see a multirun job's config."""
    before = HydraConfig.instance().cfg
    yield
    HydraConfig.instance().cfg = before
    GlobalHydra.instance().clear()


def _multirun_cfg(*overrides: str, n_jobs: int = 3):
    """The config a joblib job sees: HydraConfig in MULTIRUN mode with the launcher's n_jobs."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        overrides = ["hydra/launcher=joblib_gpus", f"hydra.launcher.n_jobs={n_jobs}", *overrides]
        cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.mode = RunMode.MULTIRUN
    HydraConfig().set_config(cfg)
    return cfg


@pytest.mark.parametrize(
    ("cpus", "n_jobs", "overrides", "threads", "workers"),
    [
        (16, 3, [], 5, 2),  # 5 CPUs each; never more workers than configured (2)
        (4, 3, [], 1, 1),  # 1 CPU each: 1 thread, 1 worker
        (4, 3, ["data.num_workers=2"], 1, 2),  # given on the command line: kept
        (4, -1, [], 1, 1),  # joblib's -1 = one job per CPU
        (4, 1, [], None, 2),  # one job at a time: nothing changes
    ],
)
@pytest.mark.usefixtures("restore_hydra_config")
def test_each_job_takes_its_share_of_the_cpus(monkeypatch, caplog, cpus, n_jobs, overrides, threads, workers):
    before = torch.get_num_threads()
    monkeypatch.setattr(job_share, "cpu_count", lambda: cpus)
    cfg = _multirun_cfg(*overrides, n_jobs=n_jobs)
    try:
        with caplog.at_level(logging.INFO, logger=job_share.__name__):
            job_share.share_machine(cfg)
        assert torch.get_num_threads() == (threads or before)
    finally:
        torch.set_num_threads(before)
    assert cfg.data.num_workers == workers
    assert len(caplog.records) == (1 if threads else 0)


def test_single_runs_keep_their_threads(make_cfg):
    cfg = make_cfg("alexnet", "extractor", "hydra/launcher=joblib_gpus")  # a single run: the launcher is unused
    before = torch.get_num_threads()
    job_share.share_machine(cfg)
    assert torch.get_num_threads() == before and cfg.data.num_workers == 0
