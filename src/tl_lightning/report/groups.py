"""A sweep dir as cells: runs grouped by every setting but the seed, so no cell ever pools two configurations."""

from __future__ import annotations

import itertools
import math
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException

from tl_lightning.files import read_text
from tl_lightning.report.escape import md
from tl_lightning.report.power import MARGIN
from tl_lightning.report.read import MAX_SMALL, one_line
from tl_lightning.report.runs import AXES, JOB_DIR, Run, read_run
from tl_lightning.report.stats import Estimate

# Rows and columns in the assignment's order; other archs and strategies follow alphabetically.
ARCH_ORDER = ("alexnet", "vgg16", "inception_v3")
STRATEGY_ORDER = ("extractor", "finetune", "mixed")

# A setting that changes another recorded one with it: cells that differ in both still differ in one setting.
COUPLED = {"weights": {"weights_sha256"}, "augmentation": {"input_cache"}}
# The most jobs multirun.yaml may ask for before the report stops listing never-started ones (seed=range(0,100000)
# would otherwise list 100,000 rows); a real study is far below it.
MAX_GRID = 10_000


def followers(keys: Iterable[str]) -> set[str]:
    """The settings that follow some of `keys` (COUPLED)."""
    return {k for d in keys for k in COUPLED.get(d, ())}


@dataclass
class Cell:
    """Runs that differ only in their seed."""

    arch: str
    strategy: str
    settings: dict  # shared by every run of the cell (seed excluded)
    runs: list[Run]
    variant: dict = field(default_factory=dict)  # the settings the sweep varies within one arch/strategy pair

    @property
    def label(self) -> str:
        extra = variant_text(self.variant)
        return f"{self.arch}/{self.strategy}" + (f" ({extra})" if extra else "")

    @property
    def measured(self) -> bool:
        return bool(self.runs)

    def values(self, key: str) -> list:
        return [r.metrics[key] for r in self.runs if r.metrics.get(key) is not None]

    def estimate(self, key: str) -> Estimate:
        return Estimate(tuple(self.values(key)), self.runs[0].val_size)

    def cite(self, key: str = "val_acc_last") -> str:
        return f"{self.label} {self.estimate(key).format()}"

    @property
    def weights(self) -> str | None:
        return self.runs[0].weights

    @property
    def regime(self) -> str | None:
        return self.runs[0].regime


@dataclass
class Sweep:
    path: Path
    runs: list[Run]
    cells: list[Cell]
    archs: list[str]
    strategies: list[str]
    varying: list[str]  # settings that take several values within one arch/strategy pair
    name: str = ""  # a view's fixed settings; "" for the whole sweep
    parent: Sweep | None = None
    tests: dict | None = None  # the report's paired tests by (id of cell A, id of cell B), filled by report.noise
    margin: float = MARGIN  # equivalence margin of the report's TOST (python -m tl_lightning.report --margin)

    @property
    def root(self) -> Sweep:
        return self.parent or self

    @property
    def ok_runs(self) -> list[Run]:
        return [r for r in self.runs if r.ok]

    @property
    def problems(self) -> list[Run]:
        return [r for r in self.runs if not r.ok]

    def cell(self, arch: str, strategy: str) -> Cell | None:
        """The cell of an arch/strategy pair; unique within a view (see views())."""
        return next((c for c in self.cells if (c.arch, c.strategy) == (arch, strategy)), None)

    def missing(self) -> list[str]:
        """Arch/strategy pairs some job asked for (a failed or never-started run) that have no finished run;
        pairs no job asked for are not missing, only absent from the design."""
        measured = {(c.arch, c.strategy) for c in self.cells}
        asked = {(r.arch, r.strategy) for r in self.runs}
        pairs = itertools.product(self.archs, self.strategies)
        return [f"{a}/{s}" for a, s in pairs if (a, s) in asked and (a, s) not in measured]

    def views(self) -> list[Sweep]:
        """One sub-sweep per combination of the varied settings: inside it each arch/strategy pair has one cell."""
        if not self.varying:
            return [self]
        groups: dict[tuple, list[Cell]] = {}
        for cell in self.cells:
            groups.setdefault(tuple(cell.variant.items()), []).append(cell)
        views = []
        for variant, cells in groups.items():
            name = variant_text(dict(variant))
            runs = [r for c in cells for r in c.runs]
            archs = [a for a in self.archs if any(c.arch == a for c in cells)]
            strategies = [s for s in self.strategies if any(c.strategy == s for c in cells)]
            views.append(Sweep(self.path, runs, cells, archs, strategies, [], name, self))
        return views


def variant_text(variant: dict) -> str:
    """`k=v, ...` for labels; a setting that follows another shown one (COUPLED, e.g. the weights' hash) is left to
    the table."""
    hidden = followers(variant)
    shown = {k: v for k, v in variant.items() if k not in hidden}
    return ", ".join(f"{md(k)}={md(format_setting(k, v))}" for k, v in shown.items())


def format_setting(key: str, value: object) -> str:
    if value is None:
        return "unrecorded"
    if key.endswith("sha256") and isinstance(value, str):
        return value[:12]
    return one_line(str(value), 60)  # table-safe: settings come from files a run wrote


def load_sweep(sweep_dir: Path) -> Sweep:
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise FileNotFoundError(f"Sweep dir {sweep_dir} does not exist.")
    folders = [d for d in sorted(sweep_dir.iterdir(), key=_job_order) if is_job_dir(d)]
    if not folders and (sweep_dir / "metrics.json").is_file():
        folders = [sweep_dir]  # one run's own folder: a one-run report
    runs = [read_run(d) for d in folders]
    runs += _never_started(sweep_dir, runs)
    archs = _ordered({str(r.arch) for r in runs if r.arch}, list(ARCH_ORDER))
    strategies = _ordered({str(r.strategy) for r in runs if r.strategy}, list(STRATEGY_ORDER))
    groups: dict[tuple, list[Run]] = {}
    for run in (r for r in runs if r.ok):
        groups.setdefault(tuple(sorted(run.settings.items())), []).append(run)
    varying = _varying(groups)
    cells = [
        Cell(g[0].arch, g[0].strategy, dict(key), sorted(g, key=_seed_order), {k: dict(key).get(k) for k in varying})
        for key, g in groups.items()
    ]
    cells.sort(key=lambda c: (archs.index(c.arch), strategies.index(c.strategy), str(c.variant)))
    return Sweep(sweep_dir, runs, cells, archs, strategies, varying)


def _varying(groups: dict[tuple, list[Run]]) -> list[str]:
    """Settings with more than one value inside some arch/strategy pair: the columns that tell cells apart."""
    by_pair: dict[tuple, list[dict]] = {}
    for key, runs in groups.items():
        by_pair.setdefault((runs[0].arch, runs[0].strategy), []).append(dict(key))
    keys = {k for settings in by_pair.values() for s in settings for k in s}
    found = {k for k in keys for s in by_pair.values() if len({repr(x.get(k)) for x in s}) > 1}
    return sorted(found)


def _seed_order(run: Run) -> tuple[bool, int]:
    return (run.seed is None, run.seed if isinstance(run.seed, int) else 0)


def is_job_dir(path: Path) -> bool:
    return path.is_dir() and (bool(JOB_DIR.match(path.name)) or (path / "metrics.json").is_file())


def _job_order(path: Path) -> tuple[int, str]:
    match = re.match(r"^(\d+)_", path.name)
    return (int(match.group(1)) if match else 1 << 30, path.name)


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
        task = yaml.safe_load(read_text(multirun_yaml, MAX_SMALL))["hydra"]["overrides"]["task"]
        overrides = OverridesParser.create().parse_overrides([str(o) for o in task or []])
    except (OSError, UnicodeDecodeError, yaml.YAMLError, KeyError, TypeError, HydraException):
        return {}
    grid = {}
    for override in overrides:
        key = override.key_or_group
        if key not in AXES:
            continue
        try:
            values = override.sweep_iterator() if override.is_sweep_override() else iter([override.value()])
            grid[key] = [int(v) if key == "seed" else str(v) for v in itertools.islice(values, MAX_GRID + 1)]
        except (HydraException, ValueError, TypeError):  # e.g. glob(), which needs the config group's options
            continue
    if math.prod(len(v) for v in grid.values()) > MAX_GRID:
        print(
            f"warning: {multirun_yaml} asks for more than {MAX_GRID:,} jobs; jobs that never started are not listed.",
            file=sys.stderr,
        )
        return {}
    return grid


def _ordered(found: set[str], canonical: list[str]) -> list[str]:
    return [x for x in canonical if x in found] + sorted(found - set(canonical))
