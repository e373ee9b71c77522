"""predict and export: output paths checked before the work, outputs written atomically, stale exports refused,
odd file names written as their bytes, and tampered checkpoints named by file and key."""

from __future__ import annotations

import csv
import errno
import os
from pathlib import Path

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra

from conftest import TEST_SIZE, compose_cfg
from tl_lightning.model.checkpoint import _KINDS, module_arguments
from tl_lightning.run.train import train
from tl_lightning.tools import evaluate, export, predict


@pytest.fixture(scope="module")
def ckpt(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    overrides = ["arch=alexnet", "strategy=extractor", "arch.weights=none", f"arch.image_size={TEST_SIZE['alexnet']}"]
    overrides += [f"data.root={tiny_data}", "data.num_workers=0", "trainer=cpu", "trainer.max_epochs=1"]
    train(compose_cfg([*overrides, "trainer.enable_progress_bar=false"], out))
    GlobalHydra.instance().clear()
    return out / "checkpoints" / "best.ckpt"


def one_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.mark.parametrize("where", ["folder", "under_a_file"])
def test_predict_refuses_a_bad_out_before_any_prediction(ckpt, tiny_data, tmp_path, capsys, where):
    (tmp_path / "notes.txt").write_text("mine")
    out = tmp_path if where == "folder" else tmp_path / "notes.txt" / "preds.csv"
    assert predict.main([f"ckpt={ckpt}", f"input={tiny_data / 'val'}", f"out={out}"]) == 2
    captured = capsys.readouterr()
    expected = "is a folder; give a file name" if where == "folder" else "notes.txt is a file, not a folder"
    assert expected in one_error(captured.err) and captured.out == ""
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("target", ["ckpt", "image"])
def test_predict_refuses_to_write_over_its_own_inputs(ckpt, tiny_data, tmp_path, capsys, target):
    folder = tmp_path / "in"
    folder.mkdir()
    image = folder / "ant.jpg"
    image.write_bytes((tiny_data / "val" / "ants" / "ants_0.jpg").read_bytes())
    own = tmp_path / "copy.ckpt"
    own.write_bytes(ckpt.read_bytes())
    out = own if target == "ckpt" else image
    before = out.read_bytes()
    assert predict.main([f"ckpt={own}", f"input={folder}", f"out={out}"]) == 2
    assert "is one of the inputs" in one_error(capsys.readouterr().err)
    assert out.read_bytes() == before


def test_predict_writes_names_that_are_not_utf8_as_their_bytes(ckpt, tiny_data, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    odd = os.path.join(os.fsencode(folder), b"b\xffe=s.jpg")
    with open(odd, "wb") as f:
        f.write((tiny_data / "val" / "bees" / "bees_0.jpg").read_bytes())
    out = tmp_path / "preds.csv"
    assert predict.main([f"ckpt={ckpt}", f"input={folder}", f"out={out}"]) == 0
    with open(out, newline="", encoding="utf-8", errors="surrogateescape") as f:
        (row,) = list(csv.DictReader(f))
    assert os.fsencode(row["path"]) == odd
    assert "preds.csv" in capsys.readouterr().err


def test_a_full_disk_while_predict_writes_keeps_the_previous_csv(ckpt, tiny_data, tmp_path, capsys, monkeypatch):
    out = tmp_path / "preds.csv"
    out.write_text("previous predictions\n")
    real_writer = csv.writer

    def full_disk_writer(f, *args, **kwargs):
        writer = real_writer(f, *args, **kwargs)

        class Half:
            def writerow(self, row):
                writer.writerow(row)

            def writerows(self, rows):
                raise OSError(errno.ENOSPC, "No space left on device")

        return Half()

    monkeypatch.setattr(csv, "writer", full_disk_writer)
    assert predict.main([f"ckpt={ckpt}", f"input={tiny_data / 'val'}", f"out={out}"]) == 2
    assert "the disk is full (the previous version of the file, if any, is intact)" in capsys.readouterr().err
    assert out.read_text() == "previous predictions\n" and [p.name for p in tmp_path.iterdir()] == ["preds.csv"]


def half_then_full(path_arg_index: int):
    """A writer that puts half a file at the name it is given, then finds the disk full."""

    def write(*args, **kwargs):
        Path(str(args[path_arg_index])).write_bytes(b"\x08\x01half a model")
        raise OSError(errno.ENOSPC, "No space left on device")

    return write


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_a_full_disk_during_export_leaves_no_truncated_model(ckpt, tmp_path, capsys, monkeypatch, fmt):
    if fmt == "onnx":
        pytest.importorskip("onnxscript")
        monkeypatch.setattr(torch.onnx.ONNXProgram, "save", half_then_full(1))
    else:
        monkeypatch.setattr(torch.jit, "save", half_then_full(1))
    name = {"torchscript": "model.ts", "onnx": "model.onnx"}[fmt]
    (tmp_path / name).write_bytes(b"the previous, complete export")
    (tmp_path / "model.json").write_text('{"previous": true}')
    assert export.main([f"ckpt={ckpt}", f"out={tmp_path}", f"formats={fmt}"]) == 2
    assert f"Cannot write {tmp_path / name}: the disk is full" in one_error(capsys.readouterr().err)
    assert (tmp_path / name).read_bytes() == b"the previous, complete export"
    assert (tmp_path / "model.json").read_text() == '{"previous": true}'
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "model.json"])  # no temp file left


def test_export_refuses_to_leave_an_older_model_beside_a_new_one(ckpt, tmp_path, capsys):
    (tmp_path / "model.ts").write_bytes(b"an older export")
    assert export.main([f"ckpt={ckpt}", f"out={tmp_path}", "formats=onnx"]) == 2
    assert "holds model.ts from an earlier export" in one_error(capsys.readouterr().err)
    assert [p.name for p in tmp_path.iterdir()] == ["model.ts"]


def test_export_refuses_an_out_under_a_file_before_the_work(ckpt, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert export.main([f"ckpt={ckpt}", f"out={tmp_path / 'file' / 'sub'}"]) == 2
    assert "file is a file, not a folder" in one_error(capsys.readouterr().err)


def test_model_json_names_the_files_it_describes(ckpt, tmp_path):
    module = predict.load_module(ckpt)
    paths = export.export(module, tmp_path, ("torchscript",))
    import json

    files = json.loads((tmp_path / "model.json").read_text())["files"]
    assert list(files) == ["model.ts"] and files["model.ts"] == export._sha256(paths["torchscript"])


TAMPERED = {
    "image_size": ({"image_size": 1000}, "hyper_parameters.image_size=1000 disagrees with the run's recorded tl_"),
    "one_class": ({"class_names": ["ants"]}, "hyper_parameters.class_names=['ants'] is not a list of at least two"),
    "unknown_key": ({"colour": "red"}, "hyper_parameters.'colour' is not a setting of this package's model"),
    "names_as_text": ({"class_names": "ab"}, "hyper_parameters.class_names='ab' is not a list"),
    "size_as_text": ({"image_size": "64"}, "hyper_parameters.image_size='64' is not an integer"),
    "unfreeze": ({"unfreeze": 99}, "its settings do not build a model (strategy.unfreeze=99 is out of range"),
}


@pytest.mark.parametrize("case", TAMPERED)
def test_a_tampered_checkpoint_is_named_by_file_and_key(ckpt, tiny_data, tmp_path, capsys, case):
    change, message = TAMPERED[case]
    checkpoint = torch.load(ckpt, weights_only=True)
    checkpoint["hyper_parameters"] |= change
    bad = tmp_path / "tampered.ckpt"
    torch.save(checkpoint, bad)
    assert predict.main([f"ckpt={bad}", f"input={tiny_data / 'val'}", f"out={tmp_path / 'p.csv'}"]) == 2
    line = one_error(capsys.readouterr().err)
    assert line.startswith(f"error: ckpt={bad}: ") and message in line


def test_the_checkpoint_checker_knows_every_argument_of_the_module():
    assert set(_KINDS) == module_arguments()


def _data_copy(tiny_data: Path, root: Path, names: dict[str, str] | None = None) -> Path:
    """The tiny val split copied under `root`, its class folders renamed per `names`."""
    for cls in ("ants", "bees"):
        folder = root / (names or {}).get(cls, cls)
        folder.mkdir(parents=True)
        for image in sorted((tiny_data / "val" / cls).iterdir())[:2]:
            (folder / image.name).write_bytes(image.read_bytes())
    return root


@pytest.mark.parametrize("target", ["ckpt", "image", "folder", "link"])
def test_evaluate_refuses_a_bad_out_before_the_evaluation(ckpt, tiny_data, tmp_path, capsys, target):
    data = _data_copy(tiny_data, tmp_path / "val")
    own = tmp_path / "copy.ckpt"
    own.write_bytes(ckpt.read_bytes())
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "link.csv").symlink_to(tmp_path / "notes.txt")
    out = {"ckpt": own, "image": data / "ants" / "ants_0.jpg", "folder": tmp_path, "link": tmp_path / "link.csv"}
    before = {p: p.read_bytes() for p in [own, data / "ants" / "ants_0.jpg", tmp_path / "notes.txt"]}
    assert evaluate.main([f"ckpt={own}", f"data={data}", f"out={out[target]}"]) == 2
    captured = capsys.readouterr()
    line = one_error(captured.err)
    expected = {"ckpt": "is one of the inputs", "image": "is one of the inputs", "folder": "is a folder"}
    assert expected.get(target, "is a symbolic link") in line and captured.out == ""  # before any evaluation
    assert {p: p.read_bytes() for p in before} == before


def test_evaluate_writes_odd_names_as_bytes_and_formula_classes_as_text(ckpt, tiny_data, tmp_path, capsys):
    names = {"ants": "=SUM(1+1)", "bees": "-2+3"}
    checkpoint = torch.load(ckpt, weights_only=True)
    checkpoint["hyper_parameters"]["class_names"] = [names["ants"], names["bees"]]
    checkpoint["tl_settings"]["classes"] = [names["ants"], names["bees"]]
    renamed = tmp_path / "renamed.ckpt"
    torch.save(checkpoint, renamed)
    data = _data_copy(tiny_data, tmp_path / "val", names)
    odd = os.path.join(os.fsencode(data / names["bees"]), b"b\xffe.jpg")
    with open(odd, "wb") as f:
        f.write((tiny_data / "val" / "bees" / "bees_0.jpg").read_bytes())
    out = tmp_path / "eval.csv"
    assert evaluate.main([f"ckpt={renamed}", f"data={data}", f"out={out}"]) == 0, capsys.readouterr().err
    raw = out.read_bytes()
    assert b"b\xffe.jpg" in raw and b",=SUM" not in raw and b",-2+3" not in raw
    assert b",'=SUM(1+1)," in raw and b",'-2+3," in raw
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval.csv", "renamed.ckpt", "val"]
