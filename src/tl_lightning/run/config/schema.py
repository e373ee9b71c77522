"""The config's types, registered in Hydra's ConfigStore as `tl_schema` (conf/config.yaml lists it first).

With it `trainer.max_epochs=abc` or `optimizer.lr=abc` is refused while the config is composed, naming the
key, instead of failing later inside a comparison. Ranges and combinations are checked in run/config/checks.py.

Open and closed nodes: `arch` and `strategy` hold only this package's keys, so they stay closed and a typo
such as `strategy.unfrezee=3` is refused. `data`, `trainer`, `optimizer` and `scheduler` are keyword
arguments of their `_target_` (any Trainer or torch.optim argument is legitimate there), so they are typed
for the keys every variant has and open for the rest: the target refuses an unknown keyword when built.
Nodes not listed here (model, callbacks, logger, hydra) compose untyped, as before. A new key in an
arch/strategy yaml needs its field here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any  # noqa: UP035 - OmegaConf reads these annotations; it cannot parse `X | None`

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

SCHEMA_NAME = "tl_schema"


@dataclass
class ArchConf:
    name: str = MISSING
    weights: str | None = "imagenet"  # imagenet | none | a state-dict file | a folder of <arch>-*.pth
    image_size: int | None = None
    head: str = "classifier"  # classifier | last_linear (model/archs.py)
    # error | random: a weights folder without this arch's file is refused, or the arch trains from random init
    missing_weights: str = "error"
    weights_folder: str | None = None  # set by run/config.apply_missing_weights when it applied: the folder


@dataclass
class StrategyConf:
    name: str = MISSING
    unfreeze: Any = None  # an int, "all", or null (the arch's default)
    cache_features: bool = False
    cache_views: Any = "plain"  # plain | fresh | an integer K >= 2 (checked by run/config/checks.py)
    cache_batch_size: int = 64


@dataclass
class DataConf:
    _target_: str = MISSING
    root: str = MISSING
    image_size: int | None = None
    batch_size: int = 4
    num_workers: int = 2
    eval_batch_size: int = 32
    folds: int | None = None  # cross-validation folds (data/folds.py); null: the train/ and val/ folders
    fold: int = 0
    split_seed: int = 0


@dataclass
class TrainerConf:
    _target_: str = "lightning.Trainer"
    max_epochs: int = 25
    frozen_pass: str = "auto"  # model/frozen_pass.py; popped before lightning.Trainer is built


@dataclass
class OptimizerConf:
    _target_: str = MISSING
    lr: float = MISSING


@dataclass
class ArtifactsConf:
    grid_size: int = 8


@dataclass
class CacheConf:
    features: bool = True
    max_gb: float = 4.0


@dataclass
class PathsConf:
    log_dir: str = "outputs"
    output_dir: str = MISSING


@dataclass
class Config:
    arch: ArchConf = field(default_factory=ArchConf)
    strategy: StrategyConf = field(default_factory=StrategyConf)
    data: DataConf = field(default_factory=DataConf)
    trainer: TrainerConf = field(default_factory=TrainerConf)
    optimizer: OptimizerConf = field(default_factory=OptimizerConf)
    artifacts: ArtifactsConf = field(default_factory=ArtifactsConf)
    cache: CacheConf = field(default_factory=CacheConf)
    paths: PathsConf = field(default_factory=PathsConf)
    seed: int = 0
    ckpt_path: str | None = None
    resume: bool = False
    quiet: bool = False
    pin_gpu: bool = False
    jobs_per_gpu: int = 1
    print_config: bool = True


# Keyword-argument nodes: typed keys are checked, other keys pass to the target (see the module docstring).
_OPEN = ("data", "trainer", "optimizer")


def schema_node() -> DictConfig:
    """The schema as a DictConfig. The root is left open so that untyped nodes (model, callbacks, hydra)
    merge in; Hydra closes the root (struct mode) once the defaults are composed, before the overrides."""
    node = OmegaConf.structured(Config)
    OmegaConf.set_struct(node, False)
    for key in _OPEN:
        OmegaConf.set_struct(node[key], False)
    return node


def register_schema() -> None:
    """Idempotent: the entry point and the tests' compose helper both call it."""
    ConfigStore.instance().store(name=SCHEMA_NAME, node=schema_node())
