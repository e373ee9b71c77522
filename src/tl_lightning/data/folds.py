"""Cross-validation over every labelled image: train/ and val/ pooled and split into K stratified folds.

`data.folds=K` pools the two splits; `data.fold=I` trains on the other folds and validates on fold I;
`data.split_seed=S` draws another split. The split is a function of (file paths, file contents, K, S)
alone: files are sorted by path, byte-identical files (one sha256) form one group that always lands in
one fold (a duplicate in train and val would let val measure a training image), and the groups of each
class are shuffled by numpy's PCG64 seeded with (S, K), which gives the same draws on every machine.
Each group then goes to the fold holding the fewest images of its class so far (ties: the fewest images
in all, then the lowest index), so every fold gets each class's share to within one group.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tl_lightning.data.layout import DatasetError


@dataclass(frozen=True)
class FoldSpec:
    """Which cross-validation split a run uses."""

    folds: int
    fold: int
    split_seed: int

    def columns(self) -> dict[str, int]:
        """What metrics.json `settings` and the prediction CSVs record about the split."""
        return {"folds": self.folds, "fold": self.fold, "split_seed": self.split_seed}


def fold_problems(folds: object, fold: object, split_seed: object) -> list[str]:
    """Why these data.folds / data.fold / data.split_seed values cannot define a split ([] when they can)."""

    def is_int(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    if folds is None:
        unused = [f"data.{k}={v}" for k, v in (("fold", fold), ("split_seed", split_seed)) if v not in (0, None)]
        return [f"{' and '.join(unused)} needs data.folds=K (K >= 2) to pick a fold"] if unused else []
    problems = []
    if not is_int(folds) or folds < 2:
        problems.append(f"data.folds={folds} must be an integer >= 2 (or null for the train/ and val/ split)")
    if not is_int(fold) or fold < 0 or (is_int(folds) and fold >= folds):
        top = f"{folds - 1}" if is_int(folds) else "data.folds - 1"
        problems.append(f"data.fold={fold} must be an integer from 0 to {top} (the fold validated on)")
    if not is_int(split_seed) or split_seed < 0:
        problems.append(f"data.split_seed={split_seed} must be an integer >= 0")
    return problems


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assign_folds(items: list[tuple[str, str, str]], folds: int, split_seed: int) -> dict[str, int]:
    """Fold of every file; `items` are (path relative to the data root, class name, content digest).

    Raise DatasetError when a class has fewer distinct images than folds (some fold would lack it).
    """
    groups: dict[str, list[str]] = {}
    labels: dict[str, list[str]] = {}
    for rel, target, digest in sorted(items):
        groups.setdefault(digest, []).append(rel)
        labels.setdefault(digest, []).append(target)
    by_class: dict[str, list[str]] = {}
    for digest, _ in sorted(groups.items(), key=lambda g: g[1][0]):  # ordered by first path, not by hash
        majority = max(sorted(set(labels[digest])), key=labels[digest].count)
        by_class.setdefault(majority, []).append(digest)
    short = {c: len(d) for c, d in by_class.items() if len(d) < folds}
    if short:
        counts = ", ".join(f"{c}: {n}" for c, n in sorted(short.items()))
        raise DatasetError(
            f"data.folds={folds} needs at least {folds} distinct images per class ({counts}; identical files count "
            f"once): lower data.folds."
        )
    rng = np.random.default_rng([split_seed, folds])
    class_count = np.zeros((len(by_class), folds), dtype=np.int64)
    total = np.zeros(folds, dtype=np.int64)
    assignment: dict[str, int] = {}
    for row, target in enumerate(sorted(by_class)):
        digests = by_class[target]
        for index in rng.permutation(len(digests)):
            members = groups[digests[index]]
            fold = min(range(folds), key=lambda f: (class_count[row, f], total[f], f))
            class_count[row, fold] += len(members)
            total[fold] += len(members)
            assignment.update(dict.fromkeys(members, fold))
    return assignment


def split_samples(
    samples: list[tuple[str, int]], classes: list[str], root: Path, spec: FoldSpec
) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(train samples, val samples) of `spec` from the pooled ImageFolder samples (path, class index).

    Both come sorted by (class, path relative to root), like an ImageFolder's samples.
    """
    rel = {path: Path(path).relative_to(root).as_posix() for path, _ in samples}
    items = [(rel[path], classes[target], file_digest(Path(path))) for path, target in samples]
    fold_of = assign_folds(items, spec.folds, spec.split_seed)
    ordered = sorted(samples, key=lambda s: (s[1], rel[s[0]]))
    train = [s for s in ordered if fold_of[rel[s[0]]] != spec.fold]
    val = [s for s in ordered if fold_of[rel[s[0]]] == spec.fold]
    return train, val
