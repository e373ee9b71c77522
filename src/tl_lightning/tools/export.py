"""Export a run's best model to TorchScript and ONNX, and check both against the checkpoint.

usage: python -m tl_lightning.export ckpt=FILE [out=DIR] [formats=torchscript,onnx]

arguments (key=value):
  ckpt     a run's checkpoint, e.g. outputs/runs/<run>/checkpoints/best.ckpt (required)
  out      the folder to write into; default: the checkpoint's folder
  formats  a comma list of torchscript and onnx (default: both)

examples:
  python -m tl_lightning.export ckpt=outputs/runs/.../checkpoints/best.ckpt
  python -m tl_lightning.export ckpt=... out=exported/ formats=torchscript

Writes model.ts, model.onnx and model.json (class names, preprocessing, and the sha256 of each model file it
describes). Both models take a normalized NCHW float batch (see model.json) and return the main logits. ONNX
needs the `export` extra (onnx, onnxscript; onnxruntime for the check).

Every file is written atomically (a kill or a full disk keeps the previous file, never a truncated one), the
models before model.json. A folder holding a model file of a format not being exported (model.ts from an earlier
export beside a new model.onnx) is refused before any work: model.json would not describe it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from tl_lightning.data.transforms import IMAGENET_MEAN, IMAGENET_STD, val_resize_size
from tl_lightning.files import atomic_open, atomic_path
from tl_lightning.model import TransferLearningModule
from tl_lightning.model.checkpoint import load_module
from tl_lightning.tools.cli import UsageError, existing_file, output_folder, run_tool

FORMATS = ("torchscript", "onnx")
FILES = {"torchscript": "model.ts", "onnx": "model.onnx"}
# Accepted max |Δlogit| / max(1, max |logit|): float32 kernels of torch and onnxruntime differ by
# ~1e-6 relative, and logits of untrained nets reach 1e6, so an absolute bound would misfire.
TOLERANCE = 1e-4


@dataclass
class ExportArgs:
    ckpt: str = "???"
    out: str = ""  # default: the checkpoint's folder
    formats: str = ",".join(FORMATS)


class MainLogits(nn.Module):
    """The bare network in eval mode, returning main logits only (no aux head, no Lightning)."""

    def __init__(self, module: TransferLearningModule) -> None:
        super().__init__()
        self.net = module.model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return out[0] if isinstance(out, tuple) else out


def metadata(module: TransferLearningModule) -> dict:
    """Everything a consumer needs to feed the exported model, in the order it is applied."""
    size = int(module.hparams.image_size)
    return {
        "arch": module.hparams.arch,
        "class_names": list(module.hparams.class_names),
        "input": "float32 NCHW, RGB",
        "resize": val_resize_size(size),
        "center_crop": size,
        "scale": "pixel / 255",
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
        "output": "main logits, one column per class_names entry",
    }


def example_input(module: TransferLearningModule, batch: int = 2) -> torch.Tensor:
    size = int(module.hparams.image_size)
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(0))


def export_torchscript(module: TransferLearningModule, path: Path) -> Path:
    wrapper = MainLogits(module).eval()
    with warnings.catch_warnings():
        # torch >= 2.10 marks TorchScript deprecated; it is still the format the issue asks for.
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(wrapper, example_input(module), check_trace=False)
        with atomic_path(path) as tmp:
            torch.jit.save(traced, str(tmp), _extra_files={"tl_lightning.json": json.dumps(metadata(module))})
    return path


def export_onnx(module: TransferLearningModule, path: Path) -> Path:
    try:
        import onnxscript  # noqa: F401  (torch's exporter needs it; fail with the fix, not deep in torch)
    except ImportError as err:
        raise UsageError("formats=onnx needs `pip install 'tl_lightning[export]'` (onnx, onnxscript)") from err
    batch = torch.export.Dim("batch", min=1)
    program = torch.onnx.export(
        MainLogits(module).eval(),
        (example_input(module),),
        input_names=["images"],
        output_names=["logits"],
        dynamic_shapes=({0: batch},),
        dynamo=True,
        external_data=False,
        verbose=False,
    )
    for key, value in metadata(module).items():
        program.model.metadata_props[key] = json.dumps(value)
    with atomic_path(path) as tmp:
        program.save(str(tmp), external_data=False)  # < 2 GB for every arch here: keep one file
    return path


def torchscript_logits(path: Path, x: torch.Tensor) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model = torch.jit.load(str(path), map_location="cpu")
    with torch.no_grad():
        return model(x)


def onnx_logits(path: Path, x: torch.Tensor) -> torch.Tensor:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0])


def logit_mismatch(
    module: TransferLearningModule, exported: dict[str, Path], x: torch.Tensor
) -> dict[str, float | None]:
    """max |Δlogit| / max(1, max |logit|) between the checkpoint and each exported model on `x`.

    None for ONNX when onnxruntime is not installed (the model is written but cannot be run here).
    """
    with torch.no_grad():
        expected = module.cpu().eval()(x)
    diffs: dict[str, float | None] = {}
    for fmt, path in exported.items():
        if fmt == "onnx" and importlib.util.find_spec("onnxruntime") is None:
            diffs[fmt] = None
            continue
        logits = torchscript_logits(path, x) if fmt == "torchscript" else onnx_logits(path, x)
        diffs[fmt] = float((logits - expected).abs().max() / expected.abs().max().clamp(min=1.0))
    return diffs


def stale_siblings(out_dir: Path, formats: tuple[str, ...]) -> None:
    """UsageError if `out_dir` holds a model file of a format not being exported: beside the new model.json it
    would pass for the current model."""
    stale = [FILES[f] for f in FORMATS if f not in formats and os.path.lexists(out_dir / FILES[f])]
    if stale:
        raise UsageError(
            f"out={out_dir} holds {', '.join(stale)} from an earlier export, which the new model.json would not "
            f"describe: export formats={','.join(FORMATS)} to replace all, remove {', '.join(stale)}, or choose "
            f"another out folder"
        )


def export(module: TransferLearningModule, out_dir: Path, formats: tuple[str, ...] = FORMATS) -> dict[str, Path]:
    """Write the requested formats, then model.json naming them with their sha256, into `out_dir`; return
    {format: path}."""
    module = module.cpu().eval()
    writers = {"torchscript": export_torchscript, "onnx": export_onnx}
    exported = {fmt: writers[fmt](module, out_dir / FILES[fmt]) for fmt in formats}
    files = {path.name: _sha256(path) for path in exported.values()}
    with atomic_open(out_dir / "model.json", "w", encoding="utf-8") as f:
        f.write(json.dumps({**metadata(module), "files": files}, indent=2))
    return exported


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _run(args: ExportArgs) -> int:
    ckpt = existing_file("ckpt", args.ckpt)
    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    if not formats or any(f not in FORMATS for f in formats):
        raise UsageError(f"formats={args.formats}: choose from {', '.join(FORMATS)} (comma-separated)")
    out_dir = output_folder("out", Path(args.out).expanduser() if args.out else ckpt.parent)
    stale_siblings(out_dir, formats)
    module = load_module(ckpt, "ckpt")
    exported = export(module, out_dir, formats)
    diffs = logit_mismatch(module, exported, example_input(module))
    for fmt, path in exported.items():
        check = "not checked: onnxruntime is not installed" if diffs[fmt] is None else f"{diffs[fmt]:.2e}"
        print(f"{fmt}: {path} (logits vs checkpoint, max relative difference: {check})")
    bad = [fmt for fmt, d in diffs.items() if d is not None and not d <= TOLERANCE]  # NaN counts as bad
    if bad:
        print(
            f"error: {', '.join(bad)} logits differ from the checkpoint by more than {TOLERANCE:g} (relative)",
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_tool(__doc__, ExportArgs, _run, argv)


if __name__ == "__main__":
    sys.exit(main())
