"""Explain a finished run: rebuild its features.png, saliency.png and metrics.json `feature_space`.

usage: python -m tl_lightning.explain RUN_DIR [key=value ...]
       python -m tl_lightning.explain ckpt=CHECKPOINT [key=value ...]

arguments (key=value; a first word without `=` is run=):
  run         a run folder: checkpoints/last.ckpt (the last epoch, the one val_acc_last scores) and
              .hydra/config.yaml are read from it
  ckpt        a checkpoint instead; its run folder is the folder holding its checkpoints/ folder
  data_root   the image folder (default: the run's data.root)
  weights     what the net was built from before training (default: the checkpoint's own arch.weights)
  projection  pca or tsne (default: the run's explain.projection, else pca)
  device      cpu (default), cuda, cuda:1 or auto

examples:
  python -m tl_lightning.explain outputs/runs/2026-01-01_12-00-00_arch=alexnet,strategy=mixed
  python -m tl_lightning.explain outputs/multirun/.../0_arch=alexnet,strategy=extractor data_root=../data

Writes features.png and saliency.png into the run folder and the numbers into its metrics.json under
`feature_space`: on the device the run used, the same values the run wrote. Works on runs made before
explanations existed. A picture that cannot be made is skipped with one line saying why (exit status 1).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from tl_lightning.data import ImageFolderDataModule
from tl_lightning.errors import UserError
from tl_lightning.features.passes import explain_inputs, open_store
from tl_lightning.files import atomic_open
from tl_lightning.model.checkpoint import load_module, read_checkpoint
from tl_lightning.model.explain.pipeline import ExplainSettings, RunInfo, explain
from tl_lightning.report.read import BadRun, read_metrics
from tl_lightning.tools.cli import UsageError, device, run_tool


@dataclass
class ExplainArgs:
    run: str = ""
    ckpt: str = ""
    data_root: str = ""
    weights: str = ""
    projection: str = ""
    device: str = "cpu"


def _run_folder(args: ExplainArgs) -> tuple[Path, Path]:
    """(run folder, checkpoint of its last epoch)."""
    if bool(args.run) == bool(args.ckpt):
        raise UsageError("give a run folder (RUN_DIR or run=DIR) or ckpt=FILE, one of them (see --help)")
    if args.ckpt:
        ckpt = Path(args.ckpt).expanduser()
        if not ckpt.is_file():
            raise UsageError(f"ckpt={args.ckpt}: no such file")
        return (ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent), ckpt
    out = Path(args.run).expanduser()
    if not out.is_dir():
        raise UsageError(f"run={args.run}: no such folder")
    ckpt = out / "checkpoints" / "last.ckpt"
    if not ckpt.is_file():
        raise UsageError(f"run={args.run}: {ckpt} is missing, and it holds the last epoch's weights")
    return out, ckpt


def _metrics(path: Path) -> dict:
    """The run's metrics.json through the report's reader (one verdict on a run file for every tool); {} for a
    run that has none."""
    if not os.path.lexists(path):
        return {}
    try:
        return read_metrics(path)
    except BadRun as err:
        raise UsageError(f"{path}: {err}; explain rewrites it, so it must be the run's own") from None


def _last_epoch(ckpt: Path, checkpoint: dict, metrics: dict) -> int:
    """The epoch the checkpoint holds, refused unless it is the run's last: feature_space and the pictures say
    "the trained net at epoch N (the last)", the one val_acc_last scores."""
    history = checkpoint.get("history") or {}
    held = len(history.get("val_acc") or []) or int(checkpoint.get("epoch", -1)) + 1
    last = int(metrics.get("epochs") or held)
    if held != last:
        raise UsageError(
            f"ckpt={ckpt} holds epoch {held}, but the run's explanation describes its last epoch ({last}): "
            f"give run={ckpt.parent.parent if ckpt.parent.name == 'checkpoints' else ckpt.parent} (it reads "
            f"checkpoints/last.ckpt)"
        )
    return last


def _same_data(images: ImageFolderDataModule, classes: list[str], metrics: dict) -> None:
    """UsageError unless the images are the run's: its classes, and the train counts it recorded."""
    try:
        found = images.classes
    except (UserError, OSError) as err:
        raise UsageError(f"data_root={images.root}: {err}") from None
    if found != classes:
        raise UsageError(
            f"data_root={images.root}: its classes ({', '.join(found)}) are not the run's ({', '.join(classes)}); "
            f"explain the run on the images it trained on"
        )
    recorded = metrics.get("train_class_counts")
    counts = {c: images.train_set.targets.count(i) for i, c in enumerate(found)}
    folds = (metrics.get("settings") or {}).get("folds")  # a cross-validation run trained on a pooled split
    if isinstance(recorded, dict) and folds is None and recorded != counts:
        raise UsageError(
            f"data_root={images.root}: its train images per class ({counts}) are not the run's ({recorded}); "
            f"explain the run on the images it trained on"
        )


def _config(out: Path) -> DictConfig:
    path = out / ".hydra" / "config.yaml"
    return OmegaConf.load(path) if path.is_file() else OmegaConf.create({})


def _images(cfg: DictConfig, root: str, image_size: int) -> ImageFolderDataModule:
    """The run's val and plain train images, prepared as the run prepared them (decode_once and all)."""
    node = cfg.get("data")
    data = OmegaConf.to_container(node, resolve=False) if isinstance(node, DictConfig) else {}
    keep = ("batch_size", "num_workers", "decode_once", "memory_limit_mb", "max_image_pixels", "on_bad_image")
    kwargs = {k: OmegaConf.select(cfg, f"data.{k}") for k in keep if k in data}
    root = root or OmegaConf.select(cfg, "data.root", default="")
    if not root:
        raise UsageError("data_root: the run's config names no data.root; give data_root=DIR")
    if not Path(root).is_dir():
        raise UsageError(f"data_root={root}: no such folder (give data_root=DIR)")
    return ImageFolderDataModule(root, image_size, download=False, seed=int(cfg.get("seed", 0)), **kwargs)


def _settings(cfg: DictConfig, projection: str, frozen_pass: str | None = None) -> ExplainSettings:
    node = cfg.get("explain")
    values = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else {}
    if projection:
        values["projection"] = projection
    if values.get("projection", "pca") not in ("pca", "tsne"):
        raise UsageError(f"projection={values['projection']}: use pca or tsne")
    batch = int(OmegaConf.select(cfg, "strategy.cache_batch_size", default=64))
    return ExplainSettings(**values, batch_size=batch, frozen_pass=frozen_pass)


def _run(args: ExplainArgs) -> int:
    out, ckpt = _run_folder(args)
    cfg = _config(out)
    dev = device("device", args.device)
    checkpoint = read_checkpoint(ckpt, "ckpt")
    hp = checkpoint["hyper_parameters"]
    metrics_path = out / "metrics.json"
    metrics = _metrics(metrics_path)
    epoch = _last_epoch(ckpt, checkpoint, metrics)
    module = load_module(ckpt, "ckpt", map_location=dev)
    strategy = OmegaConf.select(cfg, "strategy.name", default="run")
    seed = int(cfg.get("seed", 0))
    info = RunInfo(f"{hp['arch']}/{strategy} s{seed}", epoch, args.weights or hp.get("weights"), seed)
    images = _images(cfg, args.data_root, int(hp["image_size"]))
    _same_data(images, list(hp["class_names"]), metrics)
    settings = _settings(cfg, args.projection, (metrics.get("settings") or {}).get("frozen_pass"))
    # The frozen part as the run computed it: from the feature store where the run (or a sibling) left it.
    use = open_store(OmegaConf.select(cfg, "cache"), images.root, out)
    stage = explain_inputs(module, images, settings.batch_size, settings.frozen_pass, use)
    result = explain(module, images, out, info, settings, stage_inputs=stage)
    for side in ("before", "after"):
        print(f"{side}: {result.numbers.get(side)}")
    if metrics:
        metrics["feature_space"] = result.numbers
        with atomic_open(metrics_path, "w", inside=out, encoding="utf-8") as f:  # whole or not at all, never via a link
            f.write(json.dumps(metrics, indent=2))
    written = [p.name for p in (out / "features.png", out / "saliency.png") if p.is_file()]
    where = "metrics.json feature_space, " if metrics else ""
    print(f"wrote {where}{', '.join(written)} in {out}", file=sys.stderr)
    for line in result.skipped:
        print(f"skipped: {line}", file=sys.stderr)
    return 1 if result.skipped else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # `explain RUN_DIR`, like the report's `report SWEEP_DIR`. A sweep's run folders hold `=` in their names
    # (0_arch=alexnet,strategy=mixed), so a first word is the folder unless it starts with a known key.
    if argv and not argv[0].startswith("-") and argv[0].partition("=")[0] not in ExplainArgs.__dataclass_fields__:
        argv[0] = f"run={argv[0]}"
    return run_tool(__doc__, ExplainArgs, _run, argv)


if __name__ == "__main__":
    sys.exit(main())
