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
import sys
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from tl_lightning.data import ImageFolderDataModule
from tl_lightning.features.passes import explain_inputs, open_store
from tl_lightning.files import atomic_open
from tl_lightning.model.checkpoint import load_module, read_checkpoint
from tl_lightning.model.explain.pipeline import ExplainSettings, RunInfo, explain
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
    hp, history = checkpoint["hyper_parameters"], checkpoint.get("history") or {}
    module = load_module(ckpt, "ckpt", map_location=dev)
    metrics_path = out / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    epoch = int(metrics.get("epochs") or len(history.get("val_acc", [])))
    strategy = OmegaConf.select(cfg, "strategy.name", default="run")
    seed = int(cfg.get("seed", 0))
    info = RunInfo(f"{hp['arch']}/{strategy} s{seed}", epoch, args.weights or hp.get("weights"), seed)
    images = _images(cfg, args.data_root, int(hp["image_size"]))
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
