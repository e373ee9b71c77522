"""Weights and checkpoints: nothing beyond tensors is unpickled, and mismatches name keys and shapes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tl_lightning.archs import build_backbone, get_spec
from tl_lightning.resume import CheckpointError
from tl_lightning.train import train
from tl_lightning.weights import WeightsError, load_pretrained


class Payload:
    """Unpickling this with weights_only=False would create `marker`: the proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def alexnet_features() -> dict[str, torch.Tensor]:
    return {k: v for k, v in build_backbone("alexnet").state_dict().items() if k.startswith("features.")}


def test_weights_file_with_pickled_code_is_refused_not_run(make_cfg, tmp_path):
    marker, path = tmp_path / "code-ran", tmp_path / "evil.pth"
    torch.save({**alexnet_features(), "extra": Payload(marker)}, path)
    with pytest.raises(ValueError, match=r"evil\.pth is not a plain state dict loadable with weights_only=True"):
        train(make_cfg("alexnet", "extractor", f"arch.weights={path}"))
    assert not marker.exists()


def test_checkpoint_with_pickled_code_is_refused_not_run(make_cfg, tmp_path):
    marker, path = tmp_path / "code-ran", tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"arch": "alexnet"}, "x": Payload(marker)}, path)
    with pytest.raises(CheckpointError, match=r"ckpt_path=\S*evil\.ckpt was refused.*weights_only=True"):
        train(make_cfg("alexnet", "extractor", f"ckpt_path={path}"))
    assert not marker.exists()


def test_our_own_checkpoints_load_with_weights_only(make_cfg):
    cfg = make_cfg("alexnet", "extractor")
    train(cfg)
    for name in ("best.ckpt", "last.ckpt"):
        checkpoint = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / name, weights_only=True)
        assert "RNGState" in checkpoint["callbacks"] and checkpoint["history"]["val_acc"]


def test_weights_of_another_architecture_name_the_keys(make_cfg, tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7), "bn1.weight": torch.zeros(64)}, path)
    with pytest.raises(ValueError, match=r"keys the model does not have: conv1\.weight, bn1\.weight"):
        train(make_cfg("alexnet", "extractor", f"arch.weights={path}"))


def test_wrong_shapes_name_the_key_and_both_shapes(make_cfg, tmp_path):
    state = alexnet_features()
    state["features.3.weight"] = torch.zeros(192, 32, 5, 5)
    path = tmp_path / "narrow.pth"
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"features\.3\.weight: file \(192, 32, 5, 5\) vs model \(192, 64, 5, 5\)"):
        train(make_cfg("alexnet", "extractor", f"arch.weights={path}"))


def test_resuming_a_checkpoint_of_another_experiment_is_refused(make_cfg, tmp_path):
    ckpt = tmp_path / "vgg.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"arch": "vgg16", "unfreeze": "all"}}, ckpt)
    with pytest.raises(CheckpointError, match="trained with arch=vgg16, strategy.unfreeze=all, but this run has arch"):
        train(make_cfg("alexnet", "extractor", f"ckpt_path={ckpt}"))


def test_a_missing_checkpoint_is_named(make_cfg, tmp_path):
    with pytest.raises(CheckpointError, match=r"ckpt_path=\S*nothing\.ckpt: no such file"):
        train(make_cfg("alexnet", "extractor", f"ckpt_path={tmp_path / 'nothing.ckpt'}"))


def test_the_module_itself_refuses_mismatched_weights(tmp_path):
    # The same check guards direct use of the module (no config check in front of it).
    path = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, path)
    model = build_backbone("alexnet")
    with pytest.raises(WeightsError, match=r"keys the model does not have: conv1\.weight"):
        load_pretrained(model, "alexnet", get_spec("alexnet"), str(path))
