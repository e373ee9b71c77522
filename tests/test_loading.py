"""Every file the user names goes through one weights_only loader: code objects are refused, never run,
and a truncated or foreign file gets its own message."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tl_lightning.model.archs import build_backbone
from tl_lightning.model.checkpoint import CheckpointError, load_module
from tl_lightning.model.loading import UnreadableFileError, UnsafeFileError, load_tensors
from tl_lightning.run.config.checks import ConfigError
from tl_lightning.run.train import train


class Payload:
    """Unpickling this with weights_only=False would create `marker`: the proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def alexnet_features() -> dict[str, torch.Tensor]:
    return {k: v for k, v in build_backbone("alexnet").state_dict().items() if k.startswith("features.")}


def poisoned_checkpoint(path: Path, marker: Path) -> Path:
    torch.save({"state_dict": {}, "hyper_parameters": {"arch": "alexnet"}, "x": Payload(marker)}, path)
    return path


@pytest.fixture
def open_by(make_cfg):
    """Each way a user hands the package a file: arch.weights, ckpt_path (resume), predict/export's ckpt."""

    def _open(how: str, path: Path) -> None:
        if how == "arch.weights":
            train(make_cfg("alexnet", "extractor", f"arch.weights={path}"))
        elif how == "ckpt_path":
            train(make_cfg("alexnet", "extractor", f"ckpt_path={path}"))
        else:
            load_module(path, "ckpt")

    return _open


@pytest.mark.parametrize("how", ["arch.weights", "ckpt_path", "ckpt"])
def test_pickled_code_is_refused_not_run_even_when_the_environment_asks_for_unsafe_loads(
    how, open_by, tmp_path, monkeypatch
):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # would make an implicit torch.load unsafe
    marker = tmp_path / "code-ran"
    if how == "arch.weights":
        path = tmp_path / "evil.pth"
        torch.save({**alexnet_features(), "extra": Payload(marker)}, path)
    else:
        path = poisoned_checkpoint(tmp_path / "evil.ckpt", marker)
    # arch.weights is read by the config check, which lists it among the invalid settings.
    expected = ConfigError if how == "arch.weights" else UnsafeFileError
    with pytest.raises(expected, match=rf"{how}=\S*evil\.(pth|ckpt) was refused.*weights_only=True"):
        open_by(how, path)
    assert not marker.exists()


@pytest.mark.parametrize("how", ["arch.weights", "ckpt_path", "ckpt"])
def test_a_truncated_file_is_called_truncated_not_unsafe(how, open_by, make_cfg, tmp_path):
    cfg = make_cfg("alexnet", "extractor")
    train(cfg)
    whole = (Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt").read_bytes()
    path = tmp_path / "cut.ckpt"
    path.write_bytes(whole[: len(whole) // 2])
    expected = ConfigError if how == "arch.weights" else UnreadableFileError
    with pytest.raises(expected, match=rf"{how}=\S*cut\.ckpt cannot be read: truncated or not a PyTorch"):
        open_by(how, path)


def test_a_text_file_is_not_a_pytorch_file(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("not a checkpoint\n")
    with pytest.raises(UnreadableFileError, match="truncated or not a PyTorch file"):
        load_tensors(path, "arch.weights")


def test_our_own_checkpoints_load_with_weights_only(make_cfg):
    cfg = make_cfg("alexnet", "extractor")
    train(cfg)
    for name in ("best.ckpt", "last.ckpt"):
        checkpoint = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / name, weights_only=True)
        assert "RNGState" in checkpoint["callbacks"] and checkpoint["history"]["val_acc"]
        assert load_module(Path(cfg.paths.output_dir) / "checkpoints" / name).hparams.arch == "alexnet"


def test_resuming_a_checkpoint_of_another_experiment_is_refused(make_cfg, tmp_path):
    ckpt = tmp_path / "vgg.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"arch": "vgg16", "unfreeze": "all"}}, ckpt)
    with pytest.raises(CheckpointError, match="belongs to another experiment") as err:
        train(make_cfg("alexnet", "extractor", f"ckpt_path={ckpt}"))
    assert "arch: checkpoint 'vgg16', this run 'alexnet'" in str(err.value)
    assert "strategy.unfreeze: checkpoint 'all', this run 0" in str(err.value)


def test_a_missing_checkpoint_is_named(make_cfg, tmp_path):
    with pytest.raises(CheckpointError, match=r"ckpt_path=\S*nothing\.ckpt: no such file"):
        train(make_cfg("alexnet", "extractor", f"ckpt_path={tmp_path / 'nothing.ckpt'}"))
