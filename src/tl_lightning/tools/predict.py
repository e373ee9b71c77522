"""Classify images with a trained checkpoint: the checkpoint alone gives classes and preprocessing.

usage: python -m tl_lightning.predict ckpt=FILE input=IMAGE_OR_FOLDER [out=CSV] [device=cpu] [batch_size=16]

arguments (key=value):
  ckpt        a run's checkpoint, e.g. outputs/runs/<run>/checkpoints/best.ckpt (required)
  input       one image, or a folder searched recursively for images (required)
  out         the CSV to write (path,class,prob); default: predictions.csv in the current folder
  device      cpu (default), cuda, cuda:1 or auto
  batch_size  images per forward pass (default 16)

examples:
  python -m tl_lightning.predict ckpt=outputs/runs/.../checkpoints/best.ckpt input=photo.jpg
  python -m tl_lightning.predict ckpt=... input=some/folder out=preds.csv device=cuda batch_size=32

Prints `path<TAB>class<TAB>prob` per image and writes the same to the CSV, atomically (a kill or a full disk
keeps the previous file); a bad out= is refused before any image is read. The CSV holds file names as their
bytes, also those that are not valid UTF-8 (printed as \\xNN), and a cell a spreadsheet would run as a formula
(`=...`) starts with a quote.
Images are read as training reads them (data.images.load_rgb: alpha over white, 16-bit scaled, palette
transparency kept) and every file PIL decodes is predicted, whatever its extension; files that do not
decode are listed by name on stderr, and the exit status is then 1.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError

from tl_lightning.data.images import image_problem, load_rgb
from tl_lightning.data.scan import walk_files
from tl_lightning.data.transforms import eval_transform, val_resize_size
from tl_lightning.model import TransferLearningModule
from tl_lightning.model.checkpoint import load_module
from tl_lightning.tools.cli import UsageError, device, existing_file, output_file, positive_int, run_tool, write_csv


@dataclass
class PredictArgs:
    ckpt: str = "???"
    input: str = "???"
    out: str = "predictions.csv"
    device: str = "cpu"
    batch_size: int = 16


def list_images(path: Path) -> tuple[list[Path], dict[Path, str]]:
    """(decodable images, undecodable file -> reason) of one file or of every file under a folder, in the
    order training walks a class folder; like training, any file PIL decodes counts, whatever its extension."""
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = list(walk_files(path))
    else:
        raise UsageError(f"input={path}: no such file or folder")
    if not files:
        raise UsageError(f"input={path}: no image files in this folder")
    bad = {f: problem for f in files if (problem := image_problem(f))}
    images = [f for f in files if f not in bad]
    if not images:
        raise UsageError(f"input={path}: no file decodes as an image:\n{_listing(bad)}")
    return images, bad


def load_image(path: Path, transform) -> torch.Tensor:
    """Training's preprocessing: load_rgb, then the eval transform."""
    try:
        return transform(load_rgb(path))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise UsageError(f"input: cannot read image {path} ({err})") from err


def _listing(bad: dict[Path, str]) -> str:
    return "\n".join(f"  {path}: {reason}" for path, reason in bad.items())


@torch.no_grad()
def predict(module: TransferLearningModule, images: list[Path], batch_size: int = 16) -> list[tuple[Path, str, float]]:
    """(path, predicted class, its softmax probability) per image."""
    transform = eval_transform(module.hparams.image_size)
    classes = module.hparams.class_names
    dev = next(module.parameters()).device
    rows = []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        batch = torch.stack([load_image(p, transform) for p in chunk]).to(dev)
        probs = module(batch).float().softmax(dim=1).cpu()
        conf, idx = probs.max(dim=1)
        rows += [(p, classes[int(i)], float(c)) for p, i, c in zip(chunk, idx, conf, strict=True)]
    return rows


def emit(line: str) -> None:
    """A line on stdout that any terminal can print: bytes of a file name that are not valid UTF-8 are shown as
    `\\xff` (the CSV keeps the bytes themselves)."""
    print(line.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"))


def _run(args: PredictArgs) -> int:
    ckpt = existing_file("ckpt", args.ckpt)
    images, bad = list_images(Path(args.input).expanduser())
    out = output_file("out", args.out, [ckpt, *images, *bad])
    dev, batch_size = device("device", args.device), positive_int("batch_size", args.batch_size)
    module = load_module(ckpt, "ckpt", map_location=dev)
    size = int(module.hparams.image_size)
    print(
        f"{ckpt}: {module.hparams.arch}, {len(module.hparams.class_names)} classes; images are resized to "
        f"{val_resize_size(size)} px and center-cropped to {size} px, as the checkpoint's run trained on them",
        file=sys.stderr,
    )
    rows = predict(module, images, batch_size)
    for path, name, prob in rows:
        emit(f"{path}\t{name}\t{prob:.4f}")
    write_csv(out, ["path", "class", "prob"], ([str(p), c, f"{prob:.4f}"] for p, c, prob in rows))
    print(f"{len(rows)} predictions written to {args.out}", file=sys.stderr)
    if bad:
        print(f"{len(bad)} files under input={args.input} do not decode and were not predicted:", file=sys.stderr)
        print(_listing(bad), file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_tool(__doc__, PredictArgs, _run, argv)


if __name__ == "__main__":
    sys.exit(main())
