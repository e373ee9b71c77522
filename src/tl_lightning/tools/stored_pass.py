"""evaluate's frozen part through the feature store.

A checkpoint that sits in its run folder (<run>/checkpoints/x.ckpt beside <run>/.hydra and metrics.json) has its
frozen part computed as its run computed it: the run's cut, `strategy.cache_batch_size` batches over the folder
in the order training walks it, the eval view and the run's frozen-pass mode. Those are the keys the run stored
under, so evaluating the run's own val folder reads every activation and gives the run's recorded numbers; any
other folder is computed once and stored. Anything else (a copied checkpoint, a net trained whole, the store
off) is evaluated as `predict` does.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from omegaconf import OmegaConf
from torchvision.datasets import ImageFolder

from tl_lightning.data.decoded import DecodedImages
from tl_lightning.data.images import load_rgb
from tl_lightning.data.transforms import eval_transform, val_resize_size
from tl_lightning.features.passes import FolderView, StoreUse, frozen_pass, open_store
from tl_lightning.model.explain.features import cut_for
from tl_lightning.model.frozen_pass import replay
from tl_lightning.model.module import TransferLearningModule

Row = tuple[Path, str, float]


def stored_predict(
    module: TransferLearningModule, images: list[Path], ckpt: Path, data: Path
) -> tuple[list[Row], StoreUse] | None:
    """(path, predicted class, probability) per image, in `images`' order, with the store's account; None where
    the store does not apply (then evaluate runs the whole net, as predict does)."""
    run = ckpt.resolve().parent.parent
    config, metrics = run / ".hydra" / "config.yaml", run / "metrics.json"
    cut = cut_for(module)
    if cut is None or not config.is_file() or not metrics.is_file():
        return None
    try:
        cfg = OmegaConf.load(config)
        settings = json.loads(metrics.read_text()).get("settings") or {}
        batch = int(OmegaConf.select(cfg, "strategy.cache_batch_size", default=64))
        # The datamodule's rule for the val loader the run scored with: eval_batch_size, else batch_size.
        eval_batch = int(OmegaConf.select(cfg, "data.eval_batch_size") or OmegaConf.select(cfg, "data.batch_size"))
    except (ValueError, TypeError, AttributeError, OSError):  # not a run folder this package wrote
        return None
    use = open_store(OmegaConf.select(cfg, "cache"), data, run)
    if use.store is None:
        return None
    wanted = {str(p) for p in images}
    try:  # training's dataset over the folder: the store's view key is the run's
        dataset = ImageFolder(data, eval_transform(module.hparams.image_size), loader=load_rgb,
                              is_valid_file=lambda p: p in wanted)  # fmt: skip
    except (FileNotFoundError, OSError):  # a class folder with no decodable image: ImageFolder refuses it
        return None
    if {p for p, _ in dataset.samples} != wanted:
        return None
    if OmegaConf.select(cfg, "data.decode_once", default=False):  # the run's view class (bit-identical tensors)
        side = val_resize_size(module.hparams.image_size)
        dataset = DecodedImages(dataset, side, dataset.transform, OmegaConf.select(cfg, "data.memory_limit_mb"))
    device = next(module.parameters()).device
    view = FolderView(list(dataset.samples), [dataset])
    frozen = replay(settings.get("frozen_pass"), device.type)
    x = frozen_pass(module.model, cut.tap, view, module.hparams.image_size, batch, 0, device, frozen, use)
    module.use_cached_inputs(cut.tail)
    try:
        with torch.no_grad():
            probs = torch.cat([module(part.to(device)).float().softmax(dim=1).cpu() for part in x.split(eval_batch)])
    finally:
        module.use_cached_inputs(None)
    conf, idx = probs.max(dim=1)
    classes = module.hparams.class_names
    found = {path: (classes[int(i)], float(c)) for (path, _), i, c in zip(dataset.samples, idx, conf, strict=True)}
    return [(p, *found[str(p)]) for p in images], use
