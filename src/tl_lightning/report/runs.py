"""Read a sweep dir into runs and arch x strategy cells, tolerating missing and failed jobs."""

from __future__ import annotations

import csv
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException

from tl_lightning.report.stats import Estimate

# Rows and columns in the assignment's order; other archs and strategies follow alphabetically.
ARCH_ORDER = ("alexnet", "vgg16", "inception_v3")
STRATEGY_ORDER = ("extractor", "finetune", "mixed")
JOB_DIR = re.compile(r"^\d+_")  # Hydra's `<num>_<override_dirname>` job folders
AXES = ("arch", "strategy", "seed")


@dataclass
class Run:
    name: str
    path: Path | None  # None: expected from the sweep's overrides but never started
    arch: str | None
    strategy: str | None
    seed: int | None
    metrics: dict | None = None
    predictions: list[dict] = field(default_factory=list)  # val_predictions.csv rows
    problem: str | None = None  # why the run cannot be used

    @property
    def title(self) -> str:
        """Short label for figures (job dir names carry every override and overflow a title)."""
        return f"{self.arch}/{self.strategy} seed {self.seed}"

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def val_size(self) -> int | None:
        return len(self.predictions) or (self.metrics or {}).get("val_size")

    def batch_size(self) -> int | None:
        if self.metrics and self.metrics.get("batch_size"):
            return int(self.metrics["batch_size"])
        value = _hydra_config(self.path).get("data", {}).get("batch_size") if self.path else None
        return int(value) if isinstance(value, int) else None


@dataclass
class Cell:
    arch: str
    strategy: str
    runs: list[Run]  # usable runs only, one per seed

    @property
    def label(self) -> str:
        return f"{self.arch}/{self.strategy}"

    @property
    def measured(self) -> bool:
        return bool(self.runs)

    def values(self, key: str) -> list:
        return [r.metrics[key] for r in self.runs if r.metrics.get(key) is not None]

    def estimate(self, key: str) -> Estimate:
        return Estimate(tuple(self.values(key)), self.runs[0].val_size)

    def cite(self, key: str = "val_acc_last") -> str:
        return f"{self.label} {self.estimate(key).format()}" if self.measured else f"{self.label} —"


@dataclass
class Sweep:
    path: Path
    runs: list[Run]
    cells: dict[tuple[str, str], Cell]
    archs: list[str]
    strategies: list[str]

    @property
    def ok_runs(self) -> list[Run]:
        return [r for r in self.runs if r.ok]

    @property
    def problems(self) -> list[Run]:
        return [r for r in self.runs if not r.ok]

    def cell(self, arch: str, strategy: str) -> Cell | None:
        cell = self.cells.get((arch, strategy))
        return cell if cell and cell.measured else None


def load_sweep(sweep_dir: Path) -> Sweep:
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise FileNotFoundError(f"Sweep dir {sweep_dir} does not exist.")
    runs = [read_run(d) for d in sorted(sweep_dir.iterdir(), key=_job_order) if _is_job_dir(d)]
    runs += _never_started(sweep_dir, runs)
    archs = _ordered({r.arch for r in runs if r.arch}, list(ARCH_ORDER))
    strategies = _ordered({r.strategy for r in runs if r.strategy}, list(STRATEGY_ORDER))
    cells = {
        (a, s): Cell(a, s, [r for r in runs if r.ok and (r.arch, r.strategy) == (a, s)])
        for a, s in itertools.product(archs, strategies)
    }
    return Sweep(sweep_dir, runs, cells, archs, strategies)


def read_run(path: Path) -> Run:
    ident = _identity(path)
    run = Run(path.name, path, ident.get("arch"), ident.get("strategy"), ident.get("seed"))
    metrics_file = path / "metrics.json"
    if not metrics_file.is_file():
        run.problem = "no metrics.json (the job failed or is still running)"
        return run
    try:
        run.metrics = json.loads(metrics_file.read_text())
    except (OSError, json.JSONDecodeError) as err:
        run.problem = f"metrics.json unreadable: {err}"
        return run
    run.arch = run.metrics.get("arch", run.arch)
    run.strategy = run.metrics.get("strategy", run.strategy)
    run.seed = run.metrics.get("seed", run.seed)
    if run.metrics.get("val_acc_last") is None:
        run.problem = "metrics.json has no validation epoch"
    run.predictions = read_predictions(path / "val_predictions.csv")
    return run


def read_predictions(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _is_job_dir(path: Path) -> bool:
    return path.is_dir() and (bool(JOB_DIR.match(path.name)) or (path / "metrics.json").is_file())


def _job_order(path: Path) -> tuple[int, str]:
    match = re.match(r"^(\d+)_", path.name)
    return (int(match.group(1)) if match else 1 << 30, path.name)


def _identity(path: Path) -> dict:
    """arch/strategy/seed from the job's saved Hydra config, overridden by its dir name."""
    cfg = _hydra_config(path)
    ident = {
        "arch": (cfg.get("arch") or {}).get("name"),
        "strategy": (cfg.get("strategy") or {}).get("name"),
        "seed": cfg.get("seed"),
    }
    for item in JOB_DIR.sub("", path.name).split(","):
        key, _, value = item.partition("=")
        if key in AXES and value:
            ident[key] = int(value) if key == "seed" and value.lstrip("-").isdigit() else value
    return ident


def _hydra_config(path: Path) -> dict:
    file = path / ".hydra" / "config.yaml"
    if not file.is_file():
        return {}
    try:
        return yaml.safe_load(file.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}


def _never_started(sweep_dir: Path, runs: list[Run]) -> list[Run]:
    """Jobs the sweep's overrides asked for that left no folder (e.g. the sweep was killed)."""
    grid = _sweep_grid(sweep_dir / "multirun.yaml")
    if not grid:
        return []
    seen = {(r.arch, r.strategy, r.seed) for r in runs}
    defaults = {k: next((getattr(r, k) for r in runs if getattr(r, k) is not None), None) for k in AXES}
    missing = []
    for values in itertools.product(*(grid.get(k, [defaults[k]]) for k in AXES)):
        ident = dict(zip(AXES, values, strict=True))
        if (ident["arch"], ident["strategy"], ident["seed"]) not in seen:
            name = ",".join(f"{k}={v}" for k, v in ident.items() if k in grid)
            missing.append(Run(name, None, **ident, problem="never started (no job folder)"))
    return missing


def _sweep_grid(multirun_yaml: Path) -> dict[str, list]:
    """Values of the swept axes in hydra.overrides.task, parsed by Hydra itself (lists, range, choice,
    quoting); overrides Hydra cannot expand without the config (glob) are left out."""
    try:
        task = yaml.safe_load(multirun_yaml.read_text())["hydra"]["overrides"]["task"]
        overrides = OverridesParser.create().parse_overrides([str(o) for o in task or []])
    except (OSError, yaml.YAMLError, KeyError, TypeError, HydraException):
        return {}
    grid = {}
    for override in overrides:
        key = override.key_or_group
        if key not in AXES:
            continue
        try:
            values = list(override.sweep_iterator()) if override.is_sweep_override() else [override.value()]
        except HydraException:  # e.g. glob(), which needs the config group's options
            continue
        grid[key] = [int(v) if key == "seed" else str(v) for v in values]
    return grid


def _ordered(found: set[str], canonical: list[str]) -> list[str]:
    return [x for x in canonical if x in found] + sorted(found - set(canonical))
