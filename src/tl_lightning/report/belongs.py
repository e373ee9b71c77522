"""Whether a run folder's metrics.json and its .hydra/config.yaml record the same experiment.

A fresh run started into a finished run's folder and killed after an epoch used to leave the old metrics.json
beside the new config and checkpoints: the report counted the old result, resume=true skipped the folder as
finished. The settings both files name (arch, strategy, seed, learning rate, batch size) must agree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping


def config_mismatch(metrics: Mapping, config: Mapping) -> list[str]:
    """`seed: metrics.json 0, config 7` for every setting that the two name differently ([] when they agree or
    one of them does not say)."""
    settings = metrics.get("settings") if isinstance(metrics.get("settings"), Mapping) else {}
    pairs = {
        "arch": (metrics.get("arch"), _get(config, "arch", "name")),
        "strategy": (metrics.get("strategy"), _get(config, "strategy", "name")),
        "seed": (metrics.get("seed"), config.get("seed")),
        "optimizer.lr": (settings.get("lr"), _get(config, "optimizer", "lr")),
        "data.batch_size": (metrics.get("batch_size"), _get(config, "data", "batch_size")),
    }
    return [f"{key}: metrics.json {a!r}, config {b!r}" for key, (a, b) in pairs.items() if _differ(a, b)]


def _get(config: Mapping, group: str, key: str) -> object:
    node = config.get(group)
    return node.get(key) if isinstance(node, Mapping) else None


def _differ(a: object, b: object) -> bool:
    if a is None or b is None:
        return False
    try:  # 0.01 and "1e-2" are one learning rate
        return not math.isclose(float(a), float(b), rel_tol=1e-9)
    except (TypeError, ValueError):
        return str(a) != str(b)
