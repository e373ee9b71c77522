"""Accuracy and confusion matrix of a trained checkpoint on a folder of labelled images.

usage: python -m tl_lightning.evaluate ckpt=FILE data=FOLDER [out=CSV] [device=cpu] [batch_size=16]

arguments (key=value):
  ckpt        a run's checkpoint, e.g. outputs/runs/<run>/checkpoints/best.ckpt (required)
  data        a folder with one subfolder per class, named as in training, e.g. hymenoptera_data/val (required);
              subfolders may hold only some of the checkpoint's classes
  out         also write path,true,pred,prob per image to this CSV (default: none)
  device      cpu (default), cuda, cuda:1 or auto
  batch_size  images per forward pass (default 16; a run's frozen part goes in its own cache batches)

examples:
  python -m tl_lightning.evaluate ckpt=outputs/runs/.../checkpoints/best.ckpt data=hymenoptera_data/val
  python -m tl_lightning.evaluate ckpt=... data=new_photos out=eval.csv device=cuda

Prints the accuracy (correct / images), the confusion matrix (rows: true class, columns: predicted) and each
class's accuracy. Images are read and classified exactly as `predict` does (the checkpoint alone gives the
classes and the preprocessing). Files that do not decode are listed on stderr, and the exit status is then 1.
A checkpoint in its run folder has its frozen part computed as its run did and read from the feature store
(tools/stored_pass.py), so the run's own val folder gives the run's recorded predictions without a frozen pass.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from tl_lightning.data.scan import walk_files
from tl_lightning.features.passes import store_line
from tl_lightning.model.checkpoint import load_module
from tl_lightning.tools.cli import UsageError, device, existing_file, output_file, positive_int, run_tool, write_csv
from tl_lightning.tools.predict import _listing, emit, list_images, predict
from tl_lightning.tools.stored_pass import stored_predict


@dataclass
class EvaluateArgs:
    ckpt: str = "???"
    data: str = "???"
    out: str = ""
    device: str = "cpu"
    batch_size: int = 16


def labelled_images(root: Path, classes: list[str]) -> tuple[list[tuple[Path, str]], dict[Path, str]]:
    """(image, true class) for every decodable image under root/<class>/, and the files that do not decode."""
    if not root.is_dir():
        raise UsageError(f"data={root}: no such folder")
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    unknown = [name for name in folders if name not in classes]
    if unknown or not folders:
        hint = " (pass the split folder, e.g. data=.../val)" if {"train", "val"} & set(folders) else ""
        raise UsageError(
            f"data={root}: its subfolders must be classes of the checkpoint ({', '.join(classes)}); "
            f"found {', '.join(unknown or folders) or 'none'}{hint}"
        )
    labelled, bad = [], {}
    for name in folders:
        if not any(walk_files(root / name)):  # an empty class folder: nothing to score there
            continue
        images, unreadable = list_images(root / name)
        labelled += [(image, name) for image in images]
        bad.update(unreadable)
    if not labelled:
        raise UsageError(f"data={root}: no image decodes in its class folders")
    return labelled, bad


def confusion(pairs: list[tuple[str, str]], classes: list[str]) -> list[list[int]]:
    """counts[true][pred] over (true, predicted) class names, in the checkpoint's class order."""
    index = {c: i for i, c in enumerate(classes)}
    counts = [[0] * len(classes) for _ in classes]
    for true, pred in pairs:
        counts[index[true]][index[pred]] += 1
    return counts


def report_lines(counts: list[list[int]], classes: list[str], data: str) -> list[str]:
    total = sum(map(sum, counts))
    correct = sum(counts[i][i] for i in range(len(classes)))
    width = max(len("true \\ pred"), *(len(c) for c in classes)) + 2
    lines = [f"accuracy {correct / total:.4f} ({correct} of {total} images in {data})", "", "confusion matrix:"]
    lines.append("true \\ pred".ljust(width) + "".join(c.rjust(width) for c in classes))
    lines += [
        true.ljust(width) + "".join(str(n).rjust(width) for n in row) for true, row in zip(classes, counts, strict=True)
    ]
    lines += ["", "per class:"]
    for i, name in enumerate(classes):
        seen = sum(counts[i])
        lines.append(f"  {name}: {counts[i][i]} of {seen} right" + (f" ({counts[i][i] / seen:.4f})" if seen else ""))
    return lines


def _run(args: EvaluateArgs) -> int:
    ckpt = existing_file("ckpt", args.ckpt)
    dev, batch_size = device("device", args.device), positive_int("batch_size", args.batch_size)
    module = load_module(ckpt, "ckpt", map_location=dev)
    classes = list(module.hparams.class_names)
    labelled, bad = labelled_images(Path(args.data).expanduser(), classes)
    # Checked before the evaluation, against every file it reads: out=x.ckpt must not become a CSV.
    out = output_file("out", args.out, [ckpt, *(image for image, _ in labelled), *bad]) if args.out else None
    paths = [image for image, _ in labelled]
    stored = stored_predict(module, paths, ckpt, Path(args.data).expanduser())
    if stored is not None:
        rows, use = stored
        print(store_line(use), file=sys.stderr)
    else:
        rows = predict(module, paths, batch_size)
    truths = [true for _, true in labelled]
    counts = confusion([(t, r[1]) for t, r in zip(truths, rows, strict=True)], classes)
    emit("\n".join(report_lines(counts, classes, args.data)))  # a class name that is not UTF-8 prints as \xNN
    if out is not None:
        table = ([str(p), t, c, f"{prob:.4f}"] for t, (p, c, prob) in zip(truths, rows, strict=True))
        write_csv(out, ["path", "true", "pred", "prob"], table)
        print(f"{len(rows)} predictions written to {args.out}", file=sys.stderr)
    if bad:
        print(f"{len(bad)} files under data={args.data} do not decode and were not scored:", file=sys.stderr)
        print(_listing(bad), file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_tool(__doc__, EvaluateArgs, _run, argv)


if __name__ == "__main__":
    sys.exit(main())
