"""One run explained: features before and after, their separability, features.png and saliency.png.

The run (run/outputs/explain.py) and the explain tool (tools/explain.py) both call `explain`, with the trained model
at its last epoch; the run passes its feature cache as the stage-one inputs, the tool recomputes them the same
way, so both write the same numbers. A picture or number that cannot be made is skipped with one line saying
which and why (`skipped`); it never stops the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from tl_lightning.data import ImageFolderDataModule
from tl_lightning.data.layout import printable
from tl_lightning.figures import reason
from tl_lightning.model.explain import figures
from tl_lightning.model.explain.features import (
    Features,
    Split,
    before_model,
    cut_for,
    loader,
    model_features,
    plain_sets,
    stage_one,
)
from tl_lightning.model.explain.saliency import fixed_images, grad_cam
from tl_lightning.model.explain.separability import K_NEIGHBOURS, PROBE_C, check_features, project, separability
from tl_lightning.model.frozen_pass import replay
from tl_lightning.model.module import TransferLearningModule

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExplainSettings:
    projection: str = "pca"  # pca | tsne
    per_class: int = 4  # saliency.png: the first val images of each class ...
    mistakes: int = 4  # ... plus up to this many of the run's mistakes
    batch_size: int = 64  # inference batch (strategy.cache_batch_size: the feature cache's)
    frozen_pass: str | None = None  # settings.frozen_pass of the run: its frozen part is recomputed the same way


@dataclass
class Explained:
    numbers: dict  # metrics.json `feature_space`
    after: Features | None = None
    preds: list[int] = field(default_factory=list)  # last-epoch predictions from the head on `after.val`
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RunInfo:
    title: str  # e.g. `alexnet/extractor s0`
    epoch: int  # the epoch whose weights the module holds (the last)
    weights: str | None  # arch.weights as the run configured it: the "before" net
    seed: int


def explain(
    module: TransferLearningModule,
    images: ImageFolderDataModule,
    out: Path,
    info: RunInfo,
    settings: ExplainSettings,
    stage_inputs: tuple[Split, Split] | None = None,
) -> Explained:
    """Write features.png and saliency.png into `out`; return the numbers for metrics.json."""
    result = Explained(numbers={})
    _attempt(
        result,
        "feature-space numbers",
        lambda: _feature_space(module, images, out, info, settings, stage_inputs, result),
    )
    if result.after is not None:
        _attempt(result, "saliency.png", lambda: _saliency(module, images, out, info, settings, result))
    else:
        result.skipped.append("saliency.png skipped: the last-epoch predictions it marks could not be computed")
    result.numbers["skipped"] = list(result.skipped)
    for line in result.skipped:
        log.warning("explain: %s", line)
    return result


def _attempt(result: Explained, what: str, step: Callable[[], None]) -> None:
    # A finished run keeps its results whatever happens here: the failure becomes one line.
    try:
        step()
    except Exception as err:  # noqa: BLE001 - any failure of an explanation must not cost the run
        result.skipped.append(f"{what} skipped: {reason(err)}")


def _feature_space(
    module: TransferLearningModule,
    images: ImageFolderDataModule,
    out: Path,
    info: RunInfo,
    settings: ExplainSettings,
    stage_inputs: tuple[Split, Split] | None,
    result: Explained,
) -> None:
    cut = cut_for(module)
    if stage_inputs is None:
        device = next(module.parameters()).device
        sets = plain_sets(images)
        frozen = replay(settings.frozen_pass, device.type)
        stage_inputs = tuple(
            stage_one(module.model, cut, loader(s, settings.batch_size, images.num_workers), device, frozen)
            for s in sets
        )
    train, val = stage_inputs
    after = model_features(module.model, module, cut, train, val, settings.batch_size)
    result.after = after
    with torch.no_grad():
        head = module.model.get_submodule(module.spec.head)
        result.preds = [int(p) for p in head(after.val.to(next(head.parameters()).device)).argmax(dim=1)]
    if module.plan.unfreeze == 0:  # nothing before the head trained: the same features, by construction
        before, before_is = after, "the trained net's own frozen backbone (nothing before the head trains)"
    else:
        twin = before_model(module, info.weights, info.seed)
        before = model_features(twin, module, cut_for(module, twin), train, val, settings.batch_size)
        before_is = f"the net as built: arch.weights={info.weights} (random parts from seed {info.seed})"
    numbers = result.numbers
    numbers |= {
        "features": f"input of {module.spec.head}, {after.val.shape[1] if after.val.dim() == 2 else 0} values",
        "before_is": before_is,
        "after_is": f"the trained net at epoch {info.epoch} (the last)",
        "train_images": len(after.train),
        "val_images": len(after.val),
        "knn_k": K_NEIGHBOURS,
        "probe": f"logistic regression (C={PROBE_C}) on train features standardised by train mean and std",
        "projection": settings.projection,
    }
    panels = []
    for name, feats in (("before", before), ("after", after)):
        try:
            check_features(f"{name}-training", feats.train)
            check_features(f"{name}-training", feats.val)
        except ValueError as err:
            numbers[name] = None
            result.skipped.append(f"the {name} numbers and features.png skipped: {err}")
            continue
        same = name == "after" and feats is before and isinstance(numbers.get("before"), dict)
        numbers[name] = (
            dict(numbers["before"]) if same else separability(feats.train, feats.train_y, feats.val, feats.val_y)
        )
        panels.append((name, feats))
    if len(panels) == 2:  # the numbers stand even when the picture cannot be drawn
        _attempt(result, "features.png", lambda: _feature_figure(module, out, info, settings, panels, result))


def _feature_figure(
    module: TransferLearningModule,
    out: Path,
    info: RunInfo,
    settings: ExplainSettings,
    panels: list[tuple[str, Features]],
    result: Explained,
) -> None:
    numbers, after = result.numbers, result.after
    coords = [project(f.val, settings.projection, info.seed) for _, f in panels]
    labels = [
        f"before training: {numbers['before_is'].split(':')[0]}"
        if module.plan.unfreeze
        else "before = after (frozen backbone)",
        f"after: epoch {info.epoch} (last)",
    ]
    names = [printable(c) for c in module.hparams.class_names]
    targets = [int(t) for t in after.val_y]
    wrong = [p != t for p, t in zip(result.preds, targets, strict=True)]
    title = (
        f"{info.title}: val features the head reads ({numbers['features']}), {settings.projection.upper()}; "
        f"{sum(wrong)} of {len(wrong)} wrong at epoch {info.epoch}"
    )
    panel_data = [(lab, xy, numbers[n]) for lab, xy, (n, _) in zip(labels, coords, panels, strict=True)]
    figures.save(
        figures.feature_figure(panel_data, targets, wrong, names, title, f"wrong at epoch {info.epoch}"),
        out / "features.png",
    )


def _saliency(
    module: TransferLearningModule,
    images: ImageFolderDataModule,
    out: Path,
    info: RunInfo,
    settings: ExplainSettings,
    result: Explained,
) -> None:
    targets = [int(t) for t in result.after.val_y]
    chosen = fixed_images(targets, result.preds, settings.per_class, settings.mistakes)
    if not chosen:
        raise ValueError("the val set is empty")
    val = images.val_set
    maps = grad_cam(module, torch.stack([val[i][0] for i in chosen]))
    for m, index in zip(maps, chosen, strict=True):
        m.index, m.target = index, targets[index]
    names = [printable(c) for c in module.hparams.class_names]
    title = (
        f"{info.title}: Grad-CAM at {module.spec.cam_layer}, epoch {info.epoch} (last); first {settings.per_class} "
        f"val images per class, then up to {settings.mistakes} mistakes"
    )
    figures.save(figures.saliency_figure(maps, names, title), out / "saliency.png")
