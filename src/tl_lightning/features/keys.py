"""What determines a frozen activation, as the store's keys: anything left out here must not change the numbers.

- the network up to the cut: every module that runs before it, in call order, with its type, its settings and
  the bytes of its own parameters and buffers (the weights file, a random init with its seed, or a head mode
  that keeps randomly initialised layers all show up here, as the numbers they are);
- the view of the images: the dataset class, its transform and the decoded size;
- each image's bytes (sha256) and the batch it was computed in (its images, in order);
- how and where the pass ran: the frozen-pass mode, the device and its kernels (CPU model, flags and thread
  count; GPU name, CUDA/cuDNN versions and their switches), and the versions of torch, torchvision and Pillow.

The seed, the learning rate, the fold and the strategy are not in a key: given the above they change nothing in
the frozen part's output, so seeds, folds and split seeds read the same entries.
"""

from __future__ import annotations

import functools
import hashlib
import json
import platform
from contextlib import suppress
from pathlib import Path

import PIL
import torch
import torch.nn as nn
import torchvision

from tl_lightning.model.cut import StopAtTap
from tl_lightning.model.frozen_pass import FrozenPass, cpu_flags


def digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def environment(device: torch.device) -> dict:
    """The software and the kernels that compute the pass on `device`."""
    env = {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "pillow": PIL.__version__,
        "device": device.type,
        "threads": torch.get_num_threads(),  # measured: 1 and 2 threads differ in the last bits for some nets
    }
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        env |= {
            "gpu": torch.cuda.get_device_name(index),
            "capability": torch.cuda.get_device_capability(index),
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "cudnn_flags": [torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic],
            "tf32": [torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32],
        }
    else:
        env |= {
            "cpu": cpu_model(),
            "capability": torch.backends.cpu.get_cpu_capability(),
            "flags": digest(sorted(cpu_flags())),
            "mkldnn": torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled,
        }
    env["matmul_precision"] = torch.get_float32_matmul_precision()
    return env


@functools.cache
def cpu_model() -> str:
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    return platform.processor() or platform.machine()


@torch.no_grad()
def network(model: nn.Module, tap: str, image_size: int, frozen: FrozenPass) -> str:
    """The sha256 of the network up to the input of module `tap`: what runs on one blank image before it."""
    names = {id(m): name for name, m in model.named_modules()}
    called: list[nn.Module] = []

    def record(module: nn.Module, _args: tuple) -> None:
        if module is target:
            raise StopAtTap
        if module not in called:
            called.append(module)

    target = model.get_submodule(tap)
    modes = {m: m.training for m in model.modules()}
    handles = [m.register_forward_pre_hook(record) for m in model.modules()]
    device = next(iter(model.parameters())).device
    model.eval()
    try:
        with suppress(StopAtTap), frozen():
            model(torch.zeros(1, 3, image_size, image_size, device=device))
    finally:
        for handle in handles:
            handle.remove()
        for m, training in modes.items():
            m.training = training
    h = hashlib.sha256(json.dumps([type(model).__qualname__, tap]).encode())
    for module in called:
        about = [names[id(module)], type(module).__qualname__, module.extra_repr(), _settings(module)]
        h.update(json.dumps(about, default=str).encode())
        for name, tensor in [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]:
            h.update(json.dumps([name, str(tensor.dtype), list(tensor.shape)]).encode())
            h.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())  # 0-d too
    return h.hexdigest()


def _settings(module: nn.Module) -> dict:
    """A module's plain attributes (e.g. Inception's transform_input), which extra_repr may not show."""
    plain = (bool, int, float, str, tuple, type(None))
    return {
        k: v
        for k, v in sorted(vars(module).items())
        if not k.startswith("_") and k != "training" and isinstance(v, plain)
    }


def view(dataset: object, image_size: int) -> str:
    """How the images become tensors: the dataset's class and its transform (sizes, normalisation)."""
    return digest(type(dataset).__qualname__, repr(getattr(dataset, "transform", None)), image_size)


def file_digests(paths: list[str]) -> list[str]:
    """sha256 of each image file's bytes."""
    return [hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths]
