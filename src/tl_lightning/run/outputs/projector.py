"""The val features in TensorBoard's Projector: `<epoch>/<tag>/` beside the run's event files holds
tensors.tsv, metadata.tsv and sprite.png, and projector_config.pbtxt lists them (the Projector plugin's layout
and config message, tensorboard.plugins.projector, so TensorBoard reads them as its own).

Written here rather than by SummaryWriter.add_embedding, whose tensors.tsv formats one number at a time: 1.2 s of
the 3.8 s an idle AlexNet extractor run spent explaining itself (153 x 9216 features), against 0.3 s for
numpy's savetxt (benchmarks/RESULTS.md, issue 19). Every file goes through files.atomic_open.

A run folder holds one embedding: a resumed run that explains itself at another epoch removes the folder its
earlier attempt wrote (the one the old projector_config.pbtxt named), ~7 MB otherwise orphaned.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from google.protobuf import text_format
from PIL import Image
from tensorboard.plugins.projector import ProjectorConfig
from torchvision.utils import make_grid

from tl_lightning.files import atomic_open, read_text

CONFIG = "projector_config.pbtxt"
FILES = ("tensors.tsv", "metadata.tsv", "sprite.png")  # what write_embedding puts in an embedding's folder
# float32 needs 9 significant digits to read back exactly: the Projector sees the features the head read.
NUMBER = "%.9g"


def write_embedding(
    logdir: Path,
    tag: str,
    step: int,
    features: torch.Tensor,
    metadata: list[list[str]],
    header: list[str],
    thumbnails: torch.Tensor,
) -> Path:
    """One embedding: `features` (N x D), a metadata row per point under `header`, thumbnails N x 3 x H x W in
    [0, 1]. Returns the embedding's folder."""
    if not len(features) == len(metadata) == len(thumbnails):
        raise ValueError(f"{len(features)} points, {len(metadata)} metadata rows, {len(thumbnails)} thumbnails")
    logdir, subdir = Path(logdir), f"{step:05d}/{tag}"
    folder = logdir / subdir
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_open(folder / "tensors.tsv", "wb", inside=logdir) as f:
        np.savetxt(f, features.detach().float().cpu().numpy(), delimiter="\t", fmt=NUMBER)
    rows = ["\t".join(_cell(value) for value in row) for row in [header, *metadata]]
    with atomic_open(folder / "metadata.tsv", "w", inside=logdir, encoding="utf-8") as f:
        f.write("\n".join(rows) + "\n")
    with atomic_open(folder / "sprite.png", "wb", inside=logdir) as f:
        _sprite(thumbnails).save(f, format="png")
    earlier = _listed_folders(logdir)
    config = ProjectorConfig()
    info = config.embeddings.add()
    info.tensor_name = f"{tag}:{step:05d}"
    info.tensor_path = f"{subdir}/tensors.tsv"
    info.tensor_shape.extend(features.shape)
    info.metadata_path = f"{subdir}/metadata.tsv"
    info.sprite.image_path = f"{subdir}/sprite.png"
    info.sprite.single_image_dim.extend([thumbnails.shape[3], thumbnails.shape[2]])
    with atomic_open(logdir / CONFIG, "w", inside=logdir, encoding="utf-8") as f:
        f.write(text_format.MessageToString(config))
    for old in earlier - {subdir}:  # after the new config: a crash in between leaves both, never neither
        _remove_embedding(logdir, old)
    return folder


def _listed_folders(logdir: Path) -> set[str]:
    """The embedding folders (`00003/tag`) that the run folder's projector_config.pbtxt names; none if unreadable."""
    config = ProjectorConfig()
    try:
        text_format.Parse(read_text(logdir / CONFIG, 1 << 20), config)
    except (OSError, ValueError, text_format.ParseError):  # absent, a link to something odd, or not ours
        return set()
    return {os.path.dirname(e.tensor_path) for e in config.embeddings if e.tensor_path}


def _remove_embedding(logdir: Path, subdir: str) -> None:
    """Remove an earlier attempt's embedding: only the files write_embedding writes, then its folders if empty;
    nothing through a symbolic link or outside `logdir`."""
    parts = Path(subdir).parts
    if len(parts) != 2 or any(part in ("", ".", "..") for part in parts):
        return
    step, folder = logdir / parts[0], logdir / subdir
    if any(p.is_symlink() or not p.is_dir() for p in (step, folder)):
        return
    for name in FILES:
        if (path := folder / name).is_file() and not path.is_symlink():
            path.unlink()
    for path in (folder, step):
        try:  # only if empty: anything else there stays
            path.rmdir()
        except OSError:
            break


def _cell(value: object) -> str:
    # A tab or newline in a class name (a folder name may hold one) would shift every later column.
    return " ".join(str(value).split("\t")).replace("\r", " ").replace("\n", " ")


def _sprite(thumbnails: torch.Tensor) -> Image.Image:
    # The Projector reads a square sprite, row by row, `side` thumbnails per row.
    side = math.ceil(math.sqrt(len(thumbnails)))
    grid = make_grid(thumbnails.float().clamp(0, 1), nrow=side, padding=0)
    square = torch.zeros(3, side * thumbnails.shape[2], side * thumbnails.shape[3])
    square[:, : grid.shape[1], : grid.shape[2]] = grid
    return Image.fromarray((square * 255).round().to(torch.uint8).permute(1, 2, 0).numpy())
