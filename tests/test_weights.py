"""arch.weights: partial torchvision state dicts, clear refusals, and the offline ImageNet error."""

from __future__ import annotations

from urllib.error import URLError

import pytest
import torch

from conftest import WEIGHTS, requires
from tl_lightning.model.archs import build_backbone
from tl_lightning.model.module import TransferLearningModule
from tl_lightning.model.weights import WeightsError


def features_only(arch: str, path, drop: str | None = None, reshape: str | None = None):
    """A file like ../shared/weights: the backbone's features.* tensors, no classifier."""
    torch.manual_seed(1)
    state = {k: v for k, v in build_backbone(arch).state_dict().items() if k.startswith("features.")}
    if drop:
        del state[drop]
    if reshape:
        state[reshape] = torch.zeros(3)
    torch.save(state, path)
    return state


def test_partial_state_dict_missing_only_the_replaced_head_is_loaded(tmp_path):
    state = features_only("alexnet", tmp_path / "w.pth")
    module = TransferLearningModule("alexnet", ["a", "b"], weights=str(tmp_path / "w.pth"), unfreeze=0, image_size=64)
    assert torch.equal(module.model.features[0].weight, state["features.0.weight"])
    assert torch.equal(module.model.features[10].bias, state["features.10.bias"])


def test_state_dict_leaving_a_kept_layer_random_is_refused_naming_keys(tmp_path):
    features_only("alexnet", tmp_path / "w.pth", drop="features.3.weight")
    with pytest.raises(WeightsError, match=r"leaves random: features\.3\.weight"):
        TransferLearningModule("alexnet", ["a", "b"], weights=str(tmp_path / "w.pth"), image_size=64)


def test_wrong_shapes_are_refused_naming_key_and_shapes(tmp_path):
    features_only("alexnet", tmp_path / "w.pth", reshape="features.0.bias")
    with pytest.raises(WeightsError, match=r"features\.0\.bias: file \(3,\) vs model \(64,\)"):
        TransferLearningModule("alexnet", ["a", "b"], weights=str(tmp_path / "w.pth"), image_size=64)


def test_wrong_architecture_is_refused(tmp_path):
    features_only("vgg16", tmp_path / "vgg.pth")
    with pytest.raises(WeightsError, match="does not fit AlexNet"):
        TransferLearningModule("alexnet", ["a", "b"], weights=str(tmp_path / "vgg.pth"), image_size=64)


def test_missing_file_names_the_setting(tmp_path):
    with pytest.raises(WeightsError, match=r"arch.weights: no file at .*nope.pth"):
        TransferLearningModule("alexnet", ["a", "b"], weights=str(tmp_path / "nope.pth"), image_size=64)


def test_offline_imagenet_says_which_file_where_and_the_offline_options(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise URLError("network is unreachable")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "urlopen", no_network)
    with pytest.raises(WeightsError) as err:
        TransferLearningModule("alexnet", ["a", "b"], weights="imagenet", image_size=64)
    message = str(err.value)
    assert "alexnet-owt-7be5be79.pth" in message
    assert str(tmp_path / "torch" / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth") in message
    assert "arch.weights=/path/to/state_dict.pth" in message and "arch.weights=none" in message


@requires(WEIGHTS / "alexnet-imagenet-features.pth")
def test_shared_offline_alexnet_file_loads():
    module = TransferLearningModule(
        "alexnet", ["a", "b"], weights=str(WEIGHTS / "alexnet-imagenet-features.pth"), unfreeze=0, image_size=64
    )
    assert module.model.features[0].weight.abs().sum() > 0


def test_a_weights_folder_serves_each_arch_its_own_file(tmp_path):
    state = features_only("alexnet", tmp_path / "alexnet-features.pth")
    features_only("vgg16", tmp_path / "vgg16-features.pth")
    module = TransferLearningModule("alexnet", ["a", "b"], weights=str(tmp_path), unfreeze=0, image_size=64)
    assert torch.equal(module.model.features[0].weight, state["features.0.weight"])
    with pytest.raises(WeightsError, match=r"needs exactly one inception_v3-\*\.pth file \(found: none\)"):
        TransferLearningModule("inception_v3", ["a", "b"], weights=str(tmp_path), unfreeze=0, image_size=75)
