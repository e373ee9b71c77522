"""The config a run prints before any work: the settings that differ from conf/'s defaults, one per line,
and where the full resolved config is (Hydra's <run dir>/.hydra/config.yaml), instead of ~110 lines of YAML
in which the optimizer and scheduler appear twice (once as groups, once inside `model`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from tl_lightning.conf import CONF_DIR


def default_config() -> DictConfig | None:
    """conf/config.yaml composed without any override (the groups' default options); None when it does not
    compose on its own (an app given another --config-dir or --config-name)."""
    try:
        if GlobalHydra.instance().is_initialized():  # inside the Hydra app: its search path is conf/
            return compose("config")
        with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
            return compose("config")
    except (HydraException, OmegaConfBaseException):
        return None


def differences(cfg: DictConfig, defaults: DictConfig) -> list[tuple[str, Any]]:
    """(dotted key, value in `cfg`) for every leaf whose unresolved value differs from `defaults`, or that only
    `cfg` has. Compared unresolved, so `${optimizer}` inside `model` is one setting, not a second copy."""
    ours, theirs = _leaves(_tree(cfg)), _leaves(_tree(defaults))
    changed = [key for key in ours if key not in theirs or ours[key] != theirs[key]]
    removed = [key for key in theirs if key not in ours and not any(k.startswith(f"{key}.") for k in ours)]
    return [(key, OmegaConf.select(cfg, key, default=ours[key])) for key in changed] + [
        (key, "(removed)") for key in removed
    ]


def config_lines(cfg: DictConfig, out: Path, defaults: DictConfig | None) -> list[str]:
    """`alexnet/extractor, seed 0, outputs in DIR`, then `  key: value` per difference from the defaults
    (without defaults to compare with: the resolved config as YAML)."""
    if defaults is None:
        return [OmegaConf.to_yaml(cfg, resolve=True)]
    diff = differences(cfg, defaults)
    head = f"{cfg.arch.name}/{cfg.strategy.name}, seed {cfg.seed}, outputs in {out}"
    lines = [f"{head}; settings that differ from the defaults:" if diff else f"{head}; all settings are defaults"]
    lines += [f"  {key}: {_show(value)}" for key, value in diff]
    full = out / ".hydra" / "config.yaml"
    if full.is_file():
        lines.append(f"full config: {full}")
    return lines


def _tree(cfg: DictConfig) -> dict:
    tree = OmegaConf.to_container(cfg, resolve=False)
    tree.pop("hydra", None)
    tree.get("paths", {}).pop("output_dir", None)  # the run folder, said in the first line
    return tree


def _leaves(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict) and node:
        found: dict[str, Any] = {}
        for key, value in node.items():
            found.update(_leaves(value, f"{prefix}{key}."))
        return found
    if isinstance(node, list) and node:
        found = {}
        for i, value in enumerate(node):
            found.update(_leaves(value, f"{prefix}{i}."))
        return found
    return {prefix.rstrip("."): node}


def _show(value: Any) -> str:
    if isinstance(value, DictConfig | list) or OmegaConf.is_config(value):
        return str(OmegaConf.to_container(value, resolve=True))
    return "null" if value is None else str(value)
