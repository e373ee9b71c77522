"""How the frozen part of the network runs when it is cached: number format and memory layout.

The frozen passes (the feature cache of `extractor` and `mixed`, train views and val) are where a CPU run
spends its time for every strategy but `finetune`. Measured side by side on this project's CPUs
(benchmarks/RESULTS.md, 2026-11-30): channels-last fp32 beats NCHW fp32, and bf16 autocast, even with the
native avx512_bf16 kernels oneDNN picks on a Xeon, was slower than fp32 there (faster on an AMD EPYC, issue
22). So `auto` is fp32 channels-last on CPU (the same arithmetic, other kernels: features agree to ~1e-6, not
bitwise), bf16 is opt-in, and refused where the CPU has no native bf16 (emulated bf16 is slower still).
The trained part (head, optimizer state) is always fp32 NCHW; the cache is stored fp32 NCHW.

`trainer.frozen_pass`:
  auto                 CPU under 32-true precision: fp32+channels_last; else the trainer's own precision
                       context (today's behaviour on GPUs, and under trainer.precision=bf16-mixed)
  fp32                 exact fp32 NCHW, as before this option existed (trainer=cpu: the reproducible study)
  fp32+channels_last, bf16, bf16+channels_last   asked for explicitly
The chosen name is written into metrics.json `settings.frozen_pass`: runs that differ by it are different cells.
"""

from __future__ import annotations

import functools
import platform
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from tl_lightning.errors import UserError

CHOICES = ("auto", "fp32", "fp32+channels_last", "bf16", "bf16+channels_last")
FAST_CPU = "fp32+channels_last"  # measured faster than fp32 NCHW; bf16 measured slower on a native-bf16 Xeon
NATIVE_BF16_FLAGS = {"avx512_bf16", "amx_bf16", "bf16"}  # x86 flags; aarch64 lists `bf16` in Features


@dataclass(frozen=True)
class FrozenPass:
    name: str  # as recorded in settings.frozen_pass
    device_type: str
    bf16: bool = False
    channels_last: bool = False
    fallback: Callable[[], AbstractContextManager] | None = None  # the trainer's precision context (auto)

    def __call__(self) -> AbstractContextManager:
        """The number format of one forward pass."""
        if self.fallback is not None:
            return self.fallback()
        return torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.bf16)

    @contextmanager
    def layout(self, model: nn.Module) -> Iterator[None]:
        """The model in channels-last while the pass runs, then back in NCHW for the trained part."""
        if not self.channels_last:
            yield
            return
        model.to(memory_format=torch.channels_last)
        try:
            yield
        finally:
            model.to(memory_format=torch.contiguous_format)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.dim() == 4 else x


def choose(
    setting: str, device: torch.device, precision: str, trainer_context: Callable[[], AbstractContextManager]
) -> FrozenPass:
    """The frozen pass for `trainer.frozen_pass=setting` on `device` under `trainer.precision=precision`."""
    setting = str(setting)
    if setting not in CHOICES:
        raise UserError(f"trainer.frozen_pass={setting!r} is not one of {', '.join(CHOICES)}")
    if setting == "auto":
        if device.type == "cpu" and str(precision) in ("32-true", "32"):
            setting = FAST_CPU
        else:
            return FrozenPass(in_trainer_precision(precision), device.type, fallback=trainer_context)
    bf16 = setting.startswith("bf16")
    if bf16 and device.type == "cpu" and not native_bf16():
        raise UserError(
            f"trainer.frozen_pass={setting}: this CPU has no native bf16 instructions (avx512_bf16, amx_bf16), "
            "and emulated bf16 is slower than fp32; use trainer.frozen_pass=auto or fp32"
        )
    return FrozenPass(setting, device.type, bf16=bf16, channels_last=setting.endswith("channels_last"))


def replay(name: str | None, device_type: str) -> FrozenPass:
    """The pass a run recorded as settings.frozen_pass `name`, to compute its frozen features again (the explain
    tool, after the run): an explicit choice as it ran, the trainer's bf16 autocast as bf16, anything else
    (fp32, other trainer precisions, runs from before the setting) as fp32."""
    name = str(name)
    if name in CHOICES[1:]:
        return FrozenPass(name, device_type, bf16=name.startswith("bf16"), channels_last=name.endswith("channels_last"))
    if name.startswith("trainer precision (bf16"):
        return FrozenPass(name, device_type, bf16=True)
    return FrozenPass("fp32", device_type)


def in_trainer_precision(precision: str) -> str:
    """The frozen_pass name of layers that run in the trainer's own precision (no cache, or `auto` elsewhere)."""
    return "fp32" if str(precision) in ("32-true", "32") else f"trainer precision ({precision})"


@functools.cache
def native_bf16() -> bool:
    """Whether this CPU has bf16 arithmetic in hardware (not oneDNN's emulation on plain AVX-512)."""
    return bool(cpu_flags() & NATIVE_BF16_FLAGS) and torch.backends.mkldnn.is_available()


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU's feature flags (Linux); empty elsewhere, so other systems keep fp32."""
    if platform.system() != "Linux" or not cpuinfo.is_file():
        return set()
    for line in cpuinfo.read_text(errors="replace").splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()
