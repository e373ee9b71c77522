"""One run folder as the report sees it: its metrics, predictions, identity and the settings that define it."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tl_lightning.files import read_text
from tl_lightning.report.belongs import config_mismatch
from tl_lightning.report.read import MAX_SMALL, BadRun, is_name, read_failure, read_metrics, read_predictions

JOB_DIR = re.compile(r"^\d+_")  # Hydra's `<num>_<override_dirname>` job folders
AXES = ("arch", "strategy", "seed")
# Overrides that change how a run is launched or shown, not what it computes: they do not split cells
# (e.g. a resumed sweep adds resume=true to the jobs it reruns).
NOT_DEFINING = {"resume", "quiet", "data.num_workers", "trainer.enable_progress_bar", "pin_gpu", "logger"}


@dataclass
class Run:
    name: str
    path: Path | None  # None: expected from the sweep's overrides but never started
    arch: str | None
    strategy: str | None
    seed: int | None
    metrics: dict | None = None
    predictions: list[dict] = field(default_factory=list)  # val_predictions.csv rows (best checkpoint)
    predictions_last: list[dict] | None = None  # val_predictions_last.csv rows; None: file absent
    problem: str | None = None  # why the run cannot be used
    settings: dict = field(default_factory=dict)  # what defines the run, seed excluded
    settings_source: str = "settings"  # "settings" (metrics.json) or "overrides" (runs written before it)
    config: dict = field(default_factory=dict)  # .hydra/config.yaml

    @property
    def title(self) -> str:
        """Short label for figures (job dir names carry every override and overflow a title)."""
        return f"{self.arch}/{self.strategy} seed {self.seed}"

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def val_size(self) -> int | None:
        return len(self.predictions_last or self.predictions) or None

    @property
    def last_epoch(self) -> int:
        return int(self.metrics["epochs"])

    def batch_size(self) -> int | None:
        value = self.settings.get("batch_size") or self.metrics.get("batch_size")
        value = value or section(self.config, "data").get("batch_size")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def weights(self) -> str | None:
        """`settings.weights`; for runs written before it, the arch.weights override or saved config."""
        value = self.settings.get("weights", self.settings.get("arch.weights"))
        if value is None:
            value = section(self.config, "arch").get("weights")
        return None if value is None else str(value)

    def weights_text(self) -> str:
        sha = self.settings.get("weights_sha256")
        text = self.weights or "unrecorded"
        if self.settings.get("missing_weights") == "random":
            text += " (random init: no file, arch.missing_weights=random)"
        return text + (f" (sha256 {sha[:12]})" if isinstance(sha, str) else "")

    @property
    def regime(self) -> str | None:
        """Augmentation regime of the train inputs: plain | views-K | fresh; inferred for older runs."""
        if self.settings.get("augmentation") is not None:
            return str(self.settings["augmentation"])
        cache = (self.metrics or {}).get("input_cache")
        if cache is None:
            return None
        if cache.startswith("off"):  # trained on images: a fresh random crop and flip every epoch
            return "fresh (inferred)"
        views = section(self.config, "strategy").get("cache_views")
        if not isinstance(views, int):
            return None
        return ("plain" if views == 1 else f"views-{views}") + " (inferred)"

    @property
    def data_root(self) -> Path | None:
        """The data.root the run read its images from (metrics.json `data_root`; for older runs the data.root
        override or a plain saved config value); None when unrecorded. Figures draw only images under its val/."""
        recorded = (self.metrics or {}).get("data_root")
        if recorded is None:
            recorded = section(self.config, "data").get("root")
            given = [o.partition("=")[2] for o in _overrides(self) if o.lstrip("+~").startswith("data.root=")]
            recorded = given[-1] if given else recorded
        if not isinstance(recorded, str) or not recorded or "${" in recorded:  # an unresolved interpolation
            return None
        return Path(recorded).expanduser()

    def figure_predictions(self) -> tuple[list[dict], str]:
        """The predictions the figures show and which epoch they are: the table's (last) epoch when recorded."""
        if self.predictions_last:
            return self.predictions_last, f"epoch {self.last_epoch} (last)"
        return self.predictions, f"best epoch {self.metrics.get('best_epoch')}"


def read_run(path: Path) -> Run:
    ident = _identity(path)
    run = Run(path.name, path, ident.get("arch"), ident.get("strategy"), ident.get("seed"))
    run.config = hydra_config(path)
    failure = read_failure(path)
    metrics_file = path / "metrics.json"
    present = os.path.lexists(metrics_file)  # a FIFO or a link to a device is present, and read_metrics says what
    if failure and (not present or _older(metrics_file, path / "failure.txt")):
        run.problem = f"failed: {failure}"
        return run
    if not present:
        run.problem = "no metrics.json (the job failed or is still running)"
        return run
    try:
        run.metrics = read_metrics(metrics_file)
        run.predictions = read_predictions(path / "val_predictions.csv") or []
        run.predictions_last = read_predictions(path / "val_predictions_last.csv")
    except BadRun as err:
        run.metrics, run.problem = None, str(err)
        return run
    if diffs := config_mismatch(run.metrics, run.config):  # a fresh run killed in a finished run's folder
        run.metrics, run.problem = None, f"metrics.json and .hydra/config.yaml are of different runs ({diffs[0]})"
        return run
    for key in AXES:
        if run.metrics.get(key) is not None:
            setattr(run, key, run.metrics[key])
    if not (isinstance(run.arch, str) and isinstance(run.strategy, str)):
        run.problem = "arch or strategy unknown (neither metrics.json nor .hydra/config.yaml names it)"
        return run
    run.settings, run.settings_source = _settings(run)
    return run


def hydra_config(path: Path | None) -> dict:
    file = path / ".hydra" / "config.yaml" if path else None
    if file is None or not file.is_file():
        return {}
    try:
        data = yaml.safe_load(read_text(file, MAX_SMALL))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def section(config: dict, key: str) -> dict:
    """A config group of a saved config, {} when absent or not a mapping (a hand-edited file)."""
    value = config.get(key)
    return value if isinstance(value, dict) else {}


def _older(a: Path, b: Path) -> bool:
    """a was written before b (a failure after a finished attempt wins; a finished resume wins)."""
    try:
        return a.stat().st_mtime < b.stat().st_mtime
    except OSError:  # a dangling link: no finished attempt to prefer
        return True


def _settings(run: Run) -> tuple[dict, str]:
    """metrics.json `settings` minus the seed; runs written before it: their task overrides minus the seed."""
    recorded = run.metrics.get("settings")
    if isinstance(recorded, dict):
        found = {k: v for k, v in recorded.items() if k != "seed"}
        if "frozen_pass" not in found and "precision" in found:  # written before frozen_pass was recorded
            found["frozen_pass"] = _frozen_pass_before(found["precision"])
        return {"arch": run.arch, "strategy": run.strategy, **found}, "settings"
    found = {"arch": run.arch, "strategy": run.strategy}
    for item in _overrides(run):
        key, _, value = item.partition("=")
        key = key.lstrip("+~")
        if key and key not in AXES and key not in NOT_DEFINING and not key.startswith("hydra"):
            found[key] = value
    return found, "overrides"


def _frozen_pass_before(precision: object) -> str:
    """What older runs did: the frozen layers ran in the trainer's precision (model/frozen_pass.py's names)."""
    return "fp32" if str(precision) in ("32-true", "32") else f"trainer precision ({precision})"


def _overrides(run: Run) -> list[str]:
    if isinstance(run.metrics.get("overrides"), list):
        return run.metrics["overrides"]
    file = run.path / ".hydra" / "overrides.yaml"
    try:
        data = yaml.safe_load(read_text(file, MAX_SMALL)) if file.is_file() else None
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        data = None
    if isinstance(data, list):
        return [str(x) for x in data]
    # Neither recorded: the job dir's name is Hydra's override_dirname (comma-joined overrides).
    return JOB_DIR.sub("", run.name).split(",")


def _identity(path: Path) -> dict:
    """arch/strategy/seed from the job's saved Hydra config, overridden by its dir name."""
    cfg = hydra_config(path)
    ident = {
        "arch": section(cfg, "arch").get("name"),
        "strategy": section(cfg, "strategy").get("name"),
        "seed": cfg.get("seed") if isinstance(cfg.get("seed"), int) else None,
    }
    for item in JOB_DIR.sub("", path.name).split(","):
        key, _, value = item.partition("=")
        if key in AXES and value:
            ident[key] = int(value) if key == "seed" and value.lstrip("-").isdigit() else value
    # A name that is not one (markup, a path) identifies nothing: the run is listed as of unknown arch/strategy.
    return {k: v if (isinstance(v, int) if k == "seed" else is_name(v)) else None for k, v in ident.items()}
