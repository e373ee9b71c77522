"""`explain` on hostile inputs (issue 30 items 3, 4, 7): it reads metrics.json through the report's reader, refuses
a checkpoint that is not the run's last epoch and images that are not the run's, each as one line, before it
changes anything."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from conftest import TEST_SIZE, compose_cfg, write_image_folder
from tl_lightning.run.train import train
from tl_lightning.tools.explain import main


@pytest.fixture(scope="module")
def run(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("explain") / "run"
    overrides = ["arch=alexnet", "strategy=extractor", "arch.weights=none", f"arch.image_size={TEST_SIZE['alexnet']}"]
    overrides += [f"data.root={tiny_data}", "data.num_workers=0", "trainer=cpu", "trainer.max_epochs=2"]
    cfg = compose_cfg([*overrides, "trainer.enable_progress_bar=false"], out)
    train(cfg)
    GlobalHydra.instance().clear()
    (out / ".hydra").mkdir()
    OmegaConf.save(cfg, out / ".hydra" / "config.yaml")  # what Hydra writes into every real run folder
    return out


def refused(capsys, argv: list[str], run: Path) -> str:
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert main(argv) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before  # nothing rewritten
    return lines[0]


def test_a_checkpoint_of_an_earlier_epoch_is_refused(run, tmp_path, capsys):
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    checkpoint["history"] = {k: v[:1] for k, v in checkpoint["history"].items()}
    checkpoint["epoch"] = 0
    early = run / "checkpoints" / "epoch1.ckpt"
    torch.save(checkpoint, early)
    try:
        line = refused(capsys, [f"ckpt={early}"], run)
    finally:
        early.unlink()
    assert f"ckpt={early} holds epoch 1, but the run's explanation describes its last epoch (2)" in line


def test_images_of_other_classes_are_refused(run, tmp_path, capsys):
    other = write_image_folder(tmp_path / "other", {"train": 2, "val": 1})
    for split in ("train", "val"):
        (other / split / "bees").rename(other / split / "wasps")
    line = refused(capsys, [str(run), f"data_root={other}"], run)
    assert "its classes (ants, wasps) are not the run's (ants, bees)" in line


def test_images_of_the_same_classes_but_another_set_are_refused(run, tmp_path, capsys):
    other = write_image_folder(tmp_path / "other", {"train": 2, "val": 1})
    line = refused(capsys, [str(run), f"data_root={other}"], run)
    assert "its train images per class ({'ants': 2, 'bees': 2}) are not the run's" in line


EDITS = {
    "truncated": lambda text: text[: len(text) // 2],
    "list": lambda text: "[1, 2]",
    "epochs_as_text": lambda text: text.replace('"epochs": 2', '"epochs": "two"'),
    "overflow": lambda text: text.replace('"epochs": 2', '"epochs": 1e400'),
}


@pytest.mark.parametrize("edit", EDITS)
def test_an_edited_metrics_json_is_refused_in_one_line(run, tmp_path, capsys, edit):
    path = run / "metrics.json"
    original = path.read_text()
    edited = EDITS[edit](original)
    assert edited != original
    path.write_text(edited)
    try:
        line = refused(capsys, [str(run)], run)
    finally:
        path.write_text(original)
    assert line.startswith(f"error: {path}: metrics.json")


def test_the_run_itself_is_still_explained(run, capsys):
    assert main([str(run)]) == 0, capsys.readouterr().err
