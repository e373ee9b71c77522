"""Sentences that name a mechanism (BatchNorm, the optimizer), conditioned on what the runs recorded.

A run records its arch, strategy and optimizer class (metrics.json `settings`), not its layer types, so
whether BatchNorm trains is read from the torchvision arch's name: known BatchNorm-free archs, known BatchNorm
archs, and otherwise said to be unknown.
"""

from __future__ import annotations

import re

from tl_lightning.report.runs import Run

# torchvision archs without any BatchNorm layer (vgg*_bn has them; these do not).
NO_BATCHNORM = re.compile(r"alexnet|vgg(11|13|16|19)|squeezenet1_[01]")
WITH_BATCHNORM = re.compile(
    r"vgg(11|13|16|19)_bn|resnet.*|resnext.*|wide_resnet.*|densenet.*|mobilenet.*|efficientnet.*|inception_v3|"
    r"googlenet|regnet.*|shufflenet.*|mnasnet.*"
)


def optimizer_text(runs: list[Run]) -> str:
    """The recorded optimizer class(es), e.g. `Adam`; `optimizer` where no run records one."""
    names = sorted({str(n) for r in runs if (n := r.settings.get("optimizer") or _config_optimizer(r))})
    return "/".join(names) if names else "optimizer"


def batchnorm_text(runs: list[Run]) -> str:
    """Which of the runs' arch/strategy pairs train a BatchNorm layer, from the recorded arch and strategy."""
    groups: dict[str, list[str]] = {}
    for arch, strategy in sorted({(r.arch, r.strategy) for r in runs}, key=str):
        groups.setdefault(_trains_batchnorm(str(arch), str(strategy)), []).append(f"{arch}/{strategy}")
    return "; ".join(f"{', '.join(pairs)}: {why}" for why, pairs in groups.items())


def _trains_batchnorm(arch: str, strategy: str) -> str:
    if strategy == "extractor":
        return "only the new head trains, so no BatchNorm layer trains and a batch of one would do no harm"
    if NO_BATCHNORM.fullmatch(arch):
        return f"{arch} has no BatchNorm layer, so a batch of one would do no harm"
    if WITH_BATCHNORM.fullmatch(arch):
        trained = "those in the unfrozen groups train" if strategy == "mixed" else "they train"
        return f"{arch} has BatchNorm layers and under `{strategy}` {trained}"
    return f"whether {arch} has BatchNorm layers is not recorded"


def _config_optimizer(run: Run) -> str | None:
    """The optimizer class of runs written before settings.optimizer: `_target_` of the saved config."""
    target = run.config.get("optimizer", {}).get("_target_") if isinstance(run.config.get("optimizer"), dict) else None
    return str(target).rsplit(".", 1)[-1] if target else None
