"""Refuse a DDP launch that Lightning would turn into one sweep per rank."""

from __future__ import annotations

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment
from omegaconf import DictConfig, OmegaConf

from tl_lightning.errors import ConfigError


def check_ddp_launch(cfg: DictConfig) -> None:
    """Refuse trainer=ddp in a local multirun, where Lightning would re-run the whole sweep per rank.

    Lightning's DDP launcher starts ranks 1..N-1 by re-running this process's command line; under `-m` that
    command is the sweep itself. Where SLURM or torchrun starts one process per rank, nothing is re-run.
    """
    strategy = str(OmegaConf.select(cfg, "trainer.strategy", default="auto"))
    if not strategy.startswith("ddp") or strategy.startswith(("ddp_spawn", "ddp_fork", "ddp_notebook")):
        return
    if SLURMEnvironment.detect() or TorchElasticEnvironment.detect() or not HydraConfig.initialized():
        return
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        raise ConfigError(
            f"trainer.strategy={strategy} in a local -m sweep would re-launch the sweep for every rank: run DDP "
            f"jobs one at a time (no -m), or sweep on SLURM (hydra/launcher=slurm, tasks_per_node=trainer.devices)."
        )
