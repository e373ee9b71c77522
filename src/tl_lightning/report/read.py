"""Read one run folder's files defensively: a report must survive whatever a crashed or hostile job left.

Every problem becomes a `BadRun` with a one-line reason; the run is then listed as bad, never crashes the report.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from pathlib import Path

from tl_lightning.files import read_text
from tl_lightning.spreadsheet import unguard

# Bounds on what the report reads from a run folder: a metrics.json of 10,000 epochs is under 2 MB, a predictions
# CSV of 100,000 val images under 30 MB. A larger file (or a link to /dev/zero) is a bad run, not a MemoryError.
MAX_JSON = 16 << 20
MAX_CSV = 64 << 20
MAX_SMALL = 1 << 20  # failure.txt, .hydra/*.yaml, multirun.yaml
MAX_CLASSES = 1000  # ImageNet's count; the confusion table grows with its square
PREDICTION_COLUMNS = ("path", "true", "pred", "prob")
MAX_REASON = 200  # characters of a reason shown in a table cell
SCALARS = (str, int, float, bool, type(None))
# Arch and strategy names (torchvision model names, config group names) name cells, files and table rows: letters,
# digits and `_.-` only, so no name from a run folder can carry Markdown, HTML or a path into the report.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class BadRun(Exception):
    """A run folder whose files the report cannot use; the message is the one-line reason."""


def one_line(text: str, limit: int = MAX_REASON, keep_bars: bool = False) -> str:
    """Printable, single-line, table-safe text (no '|', which would split a markdown cell, unless keep_bars: the
    caller escapes it)."""
    text = re.sub(r"\s+", " ", "".join(ch if ch.isprintable() else " " for ch in text)).strip()
    text = text if keep_bars else text.replace("|", "/")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def read_metrics(path: Path) -> dict:
    """metrics.json as a dict whose keys the report uses have the types it expects."""
    try:
        data = json.loads(read_text(path, MAX_JSON))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        raise BadRun(f"metrics.json unreadable: {one_line(str(err), 80)}") from None
    if not isinstance(data, dict):
        raise BadRun(f"metrics.json holds {_kind(data)}, not a JSON object")
    if data.get("val_acc_last") is None:
        raise BadRun("metrics.json has no validation epoch")
    for key in ("arch", "strategy"):  # they name cells, files and table rows
        value = data.get(key)
        _check(data, key, value is None or is_name(value), "a name (letters, digits, _ . -)")
    for key in ("weights_source", "augmentation", "input_cache"):
        _check(data, key, data.get(key) is None or isinstance(data[key], str), "a string")
    for key in ("val_acc_last", "val_acc_best"):
        _check(data, key, _is_accuracy(data.get(key)), "an accuracy in [0, 1]")
    for key in ("trainable_params", "total_params", "epochs"):
        _check(data, key, _is_int(data.get(key)), "an integer")
    wall = data.get("wall_s")
    _check(data, "wall_s", _is_number(wall) and math.isfinite(wall) and wall >= 0, "a number of seconds")
    for key in ("best_epoch", "seed", "batch_size"):
        _check(data, key, key not in data or data[key] is None or _is_int(data[key]), "an integer")
    for key in ("train_acc", "val_acc"):
        _check(data, key, key not in data or _is_list(data[key], _is_accuracy), "a list of accuracies")
    for key in ("train_loss", "val_loss", "train_aux_loss", "train_total_loss"):
        _check(data, key, key not in data or _is_list(data[key], _is_number), "a list of numbers")
    counts = data.get("train_class_counts")
    _check(data, "train_class_counts", counts is None or _is_counts(counts), "a {class: count} object")
    settings = data.get("settings")
    ok = settings is None or (isinstance(settings, dict) and all(isinstance(v, SCALARS) for v in settings.values()))
    _check(data, "settings", ok, "an object of JSON scalars")
    overrides = data.get("overrides")
    _check(data, "overrides", overrides is None or _is_list(overrides, _is_str), "a list of strings")
    return data


def read_predictions(path: Path) -> list[dict] | None:
    """Rows of a val_predictions*.csv (path, true, pred, prob), spreadsheet quoting undone; None when absent."""
    if not os.path.lexists(path):
        return None
    try:
        text = read_text(path, MAX_CSV)
    except (OSError, UnicodeDecodeError) as err:
        raise BadRun(f"{path.name} unreadable: {one_line(str(err), 80)}") from None
    if "\x00" in text:
        raise BadRun(f"{path.name} is binary (NUL bytes), not a CSV")
    try:
        reader = csv.DictReader(io.StringIO(text))
        rows = [{k: unguard(v) if isinstance(v, str) else v for k, v in row.items()} for row in reader]
    except csv.Error as err:
        raise BadRun(f"{path.name} is not a valid CSV: {one_line(str(err), 80)}") from None
    if not set(PREDICTION_COLUMNS) <= set(reader.fieldnames or ()):
        raise BadRun(f"{path.name} lacks the columns {','.join(PREDICTION_COLUMNS)}")
    if not rows:
        raise BadRun(f"{path.name} holds no prediction")
    for number, row in enumerate(rows, start=2):
        if None in row or any(not row.get(c) for c in PREDICTION_COLUMNS) or not _is_probability(row["prob"]):
            raise BadRun(f"{path.name} line {number} is not path,true,pred,prob with prob in [0, 1]")
    classes = {row[c] for row in rows for c in ("true", "pred")}
    if len(classes) > MAX_CLASSES:
        raise BadRun(f"{path.name} names {len(classes):,} classes, more than the {MAX_CLASSES:,} a report tabulates")
    return rows


def read_failure(run_dir: Path) -> str | None:
    """The one-line error a failed job left in failure.txt (None if there is none)."""
    file = run_dir / "failure.txt"
    if not os.path.lexists(file):
        return None
    try:
        text = read_text(file, MAX_SMALL, errors="replace")
    except OSError as err:
        return f"failure.txt unreadable: {one_line(str(err), 80)}"
    line = next((one_line(s) for s in text.splitlines() if s.strip()), "")
    return line or "failure.txt is empty"


def is_name(value: object) -> bool:
    return isinstance(value, str) and NAME.fullmatch(value) is not None


def _check(data: dict, key: str, ok: bool, expected: str) -> None:
    if not ok:
        shown = one_line(repr(data.get(key)), 40)
        raise BadRun(f"metrics.json: {key} is {shown}, not {expected}")


def _kind(value: object) -> str:
    return "null" if value is None else f"a {type(value).__name__}"


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_str(value: object) -> bool:
    return isinstance(value, str)


def _is_accuracy(value: object) -> bool:
    """A finite number in [0, 1]: NaN fails every comparison and must never rank or win."""
    return _is_number(value) and math.isfinite(value) and 0.0 <= value <= 1.0


def _is_list(value: object, item_ok) -> bool:
    return isinstance(value, list) and all(item_ok(v) for v in value)


def _is_counts(value: object) -> bool:
    return isinstance(value, dict) and bool(value) and all(_is_int(v) and v >= 0 for v in value.values())


def _is_probability(text: str) -> bool:
    try:
        return _is_accuracy(float(text))
    except ValueError:
        return False
