"""Predict and export round trips on a checkpoint trained on the tiny ImageFolder."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from PIL import Image

from conftest import TEST_SIZE, compose_cfg, tiny_run
from tl_lightning.data.images import load_rgb
from tl_lightning.data.transforms import eval_transform
from tl_lightning.model.checkpoint import load_module
from tl_lightning.run.train import train
from tl_lightning.tools import export, predict


@pytest.fixture(scope="module")
def run_dir(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    overrides = ["arch=alexnet", "strategy=extractor", *tiny_run(tiny_data, TEST_SIZE["alexnet"])]
    train(compose_cfg(overrides, out))
    GlobalHydra.instance().clear()
    return out


@pytest.fixture(scope="module")
def module(run_dir: Path):
    return load_module(run_dir / "checkpoints" / "best.ckpt")


def val_batch(tiny_data: Path, image_size: int) -> torch.Tensor:
    """The tiny val images (an odd count, unlike the traced batch of 2), preprocessed as in training."""
    paths = sorted((tiny_data / "val").rglob("*.jpg"))[:7]
    transform = eval_transform(image_size)
    return torch.stack([transform(Image.open(p).convert("RGB")) for p in paths])


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_predict_cli_reproduces_the_runs_val_predictions(run_dir, tiny_data, tmp_path, capsys):
    out = tmp_path / "preds.csv"
    ckpt = run_dir / "checkpoints" / "best.ckpt"
    assert predict.main([f"ckpt={ckpt}", f"input={tiny_data / 'val'}", f"out={out}", "batch_size=3"]) == 0

    rows = read_csv(out)
    assert list(rows[0]) == ["path", "class", "prob"]
    # Training wrote val_predictions.csv with the same best checkpoint: predict must agree on every image.
    expected = {row["path"]: row for row in read_csv(run_dir / "val_predictions.csv")}
    assert sorted(row["path"] for row in rows) == sorted(expected)
    for row in rows:
        assert row["class"] == expected[row["path"]]["pred"]
        assert float(row["prob"]) == pytest.approx(float(expected[row["path"]]["prob"]), abs=2e-4)
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == len(rows) and printed[0].split("\t")[1] in {"ants", "bees"}


def test_predict_single_image(run_dir, tiny_data, tmp_path, capsys):
    image = tiny_data / "val" / "bees" / "bees_0.jpg"
    out = tmp_path / "one.csv"
    assert predict.main([f"ckpt={run_dir / 'checkpoints' / 'best.ckpt'}", f"input={image}", f"out={out}"]) == 0
    (row,) = read_csv(out)
    assert row["path"] == str(image) and 0.5 <= float(row["prob"]) <= 1.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ckpt={ckpt}"], "missing required argument(s): input=..."),
        (["ckpt={ckpt}", "input={data}", "colour=red"], "Key 'colour' not in 'PredictArgs'"),
        (["ckpt={ckpt}", "input"], "argument 'input' is not key=value"),
        (["ckpt={data}/nope.ckpt", "input={data}"], "nope.ckpt: no such file"),
        (["ckpt={ckpt}", "input={data}/absent"], "absent: no such file or folder"),
        (["ckpt={garbage}", "input={data}"], "garbage.ckpt cannot be read: truncated or not a PyTorch file"),
        (["ckpt={ckpt}", "input={empty}"], "no image files"),
        (["ckpt={ckpt}", "input={data}", "batch_size=0"], "batch_size=0: expected a positive integer"),
    ],
)
def test_predict_errors_name_the_bad_argument(run_dir, tiny_data, tmp_path, capsys, args, message):
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_text("not a checkpoint")
    (tmp_path / "empty").mkdir()
    values = {"ckpt": run_dir / "checkpoints" / "best.ckpt", "data": tiny_data, "garbage": garbage}
    values["empty"] = tmp_path / "empty"
    assert predict.main([a.format(**values) for a in args]) == 2
    assert message in capsys.readouterr().err


def test_torchscript_export_gives_the_checkpoint_logits(module, tiny_data, tmp_path):
    paths = export.export(module, tmp_path, ("torchscript",))
    x = val_batch(tiny_data, module.hparams.image_size)
    with torch.no_grad():
        expected = module(x)
    torch.testing.assert_close(export.torchscript_logits(paths["torchscript"], x), expected, atol=1e-5, rtol=1e-5)

    extra = {"tl_lightning.json": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.load(str(paths["torchscript"]), _extra_files=extra)
    meta = json.loads(extra["tl_lightning.json"])
    assert meta["class_names"] == ["ants", "bees"] and meta["center_crop"] == module.hparams.image_size
    written = json.loads((tmp_path / "model.json").read_text())
    assert {k: v for k, v in written.items() if k != "files"} == meta and list(written["files"]) == ["model.ts"]


def test_onnx_export_gives_the_checkpoint_logits(module, tiny_data, tmp_path):
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    paths = export.export(module, tmp_path, ("onnx",))
    x = val_batch(tiny_data, module.hparams.image_size)
    with torch.no_grad():
        expected = module(x)
    torch.testing.assert_close(export.onnx_logits(paths["onnx"], x), expected, atol=1e-4, rtol=1e-4)
    meta = ort.InferenceSession(str(paths["onnx"])).get_modelmeta().custom_metadata_map
    assert json.loads(meta["class_names"]) == ["ants", "bees"]


def test_export_cli_writes_next_to_the_checkpoint_and_checks_itself(run_dir, tmp_path, capsys):
    ckpt_dir = tmp_path / "ckpts"
    ckpt_dir.mkdir()
    ckpt = ckpt_dir / "best.ckpt"
    ckpt.write_bytes((run_dir / "checkpoints" / "best.ckpt").read_bytes())
    assert export.main([f"ckpt={ckpt}", "formats=torchscript"]) == 0
    assert (ckpt_dir / "model.ts").stat().st_size > 0 and (ckpt_dir / "model.json").is_file()
    assert "torchscript:" in capsys.readouterr().out
    assert export.main([f"ckpt={ckpt}", "formats=tflite"]) == 2
    assert "formats=tflite: choose from torchscript, onnx" in capsys.readouterr().err


def odd_images(folder: Path) -> dict[str, Path]:
    """Images whose RGB depends on how they are opened: transparency, 16 bits, a transparent palette."""
    folder.mkdir()
    rng = np.random.default_rng(1)
    rgba = rng.integers(0, 256, (40, 52, 4), dtype=np.uint8)
    rgba[..., 3] = np.linspace(0, 255, 52, dtype=np.uint8)  # fades from transparent to opaque
    Image.fromarray(rgba, "RGBA").save(folder / "fade.png")
    wide = (rng.integers(0, 65536, (40, 52))).astype(np.uint16)
    Image.fromarray(wide).save(folder / "wide16.png")  # mode I;16
    palette = Image.fromarray(rng.integers(0, 8, (40, 52), dtype=np.uint8), "P")
    palette.putpalette([c for i in range(8) for c in (30 * i, 200 - 20 * i, 90)])
    palette.info["transparency"] = 0
    palette.save(folder / "palette.gif")
    Image.fromarray(rgba[..., :3]).save(folder / "photo.jfif", format="JPEG")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return {p.name: p for p in folder.iterdir()}


def test_predict_reads_images_as_training_does_and_names_files_that_do_not_decode(module, run_dir, tmp_path, capsys):
    files = odd_images(tmp_path / "odd")
    transform = eval_transform(module.hparams.image_size)
    with torch.no_grad():
        expected = {
            name: module(transform(load_rgb(path))[None]).softmax(dim=1).max().item()
            for name, path in files.items()
            if name != "broken.jpg"
        }
    images, bad = predict.list_images(tmp_path / "odd")
    assert list(bad) == [files["broken.jpg"]] and len(images) == 4
    got = {path.name: prob for path, _, prob in predict.predict(module, images)}
    assert got == pytest.approx(expected, abs=1e-6)

    out = tmp_path / "odd.csv"
    code = predict.main([f"ckpt={run_dir / 'checkpoints' / 'best.ckpt'}", f"input={tmp_path / 'odd'}", f"out={out}"])
    assert code == 1
    assert {Path(row["path"]).name for row in read_csv(out)} == set(expected)
    err = capsys.readouterr().err
    assert "1 files under input=" in err and f"{files['broken.jpg']}: " in err
