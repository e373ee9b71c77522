"""One line where the CPU runs bf16 in hardware (AMX, AVX512-BF16) and the frozen pass runs fp32: how much faster
trainer.frozen_pass=bf16+channels_last ran this net's frozen part on this very CPU.

fp32 stays the default, so reruns are exact across machines; bf16 gives other last bits, so runs that use it
are another cell of the study. The speed-up is measured here, once per CPU, net and cut (two timed passes over
a few images, a couple of seconds), and kept beside the feature store, so later runs print it at no cost.
"""

from __future__ import annotations

import json
import time
from contextlib import suppress
from pathlib import Path

import torch
import torch.nn as nn
from torch.utils.data import Dataset

from tl_lightning.features import keys
from tl_lightning.files import atomic_open
from tl_lightning.model.cut import StopAtTap
from tl_lightning.model.frozen_pass import FrozenPass, cpu_flags, native_bf16

BF16 = FrozenPass("bf16+channels_last", "cpu", bf16=True, channels_last=True)
IMAGES = 8


def bf16_hint(
    model: nn.Module, tap: str, images: Dataset, image_size: int, frozen: FrozenPass, root: Path
) -> str | None:
    """The hint, or None where it does not apply (a GPU, bf16 already, or no native bf16)."""
    if frozen.device_type != "cpu" or frozen.bf16 or not native_bf16():
        return None
    net = keys.network(model, tap, image_size, frozen)
    path = root / "bf16" / f"{keys.digest(keys.cpu_model(), sorted(cpu_flags()), torch.__version__, net)}.json"
    speedup = _recorded(path)
    if speedup is None:
        x = torch.stack([images[i][0] for i in range(min(IMAGES, len(images)))])
        speedup = _seconds(model, tap, x, frozen) / _seconds(model, tap, x, BF16)
        with suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_open(path, "w") as f:
                json.dump({"speedup": speedup, "frozen_pass": frozen.name, "images": len(x)}, f)
    return (
        f"This CPU ({keys.cpu_model()}) has native bf16: trainer.frozen_pass=bf16+channels_last ran this frozen "
        f"pass {speedup:.1f}x as fast as {frozen.name} here (measured on {IMAGES} images). Its numbers differ "
        "from fp32 in the last bits, so such runs are a cell of their own."
    )


def _recorded(path: Path) -> float | None:
    with suppress(OSError, ValueError, TypeError, KeyError):
        value = float(json.loads(path.read_text())["speedup"])
        return value if value > 0 else None
    return None


@torch.no_grad()
def _seconds(model: nn.Module, tap: str, x: torch.Tensor, frozen: FrozenPass) -> float:
    """The best of three passes of `x` up to `tap` (after one warm-up, which picks and caches the kernels)."""

    def stop(_module: nn.Module, _args: tuple) -> None:
        raise StopAtTap

    handle = model.get_submodule(tap).register_forward_pre_hook(stop)
    modes = {m: m.training for m in model.modules()}
    model.eval()
    best = float("inf")
    try:
        with frozen.layout(model):
            for i in range(4):
                start = time.perf_counter()
                with suppress(StopAtTap), frozen():
                    model(frozen.prepare(x))
                best = min(best, time.perf_counter() - start) if i else best
    finally:
        handle.remove()
        for m, training in modes.items():
            m.training = training
    return best
