"""Any torchvision classification model by name: discovered head, groups and sizes; every strategy trains."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from conftest import compose_cfg, tiny_run
from tl_lightning.model.archs import get_spec, layer_groups
from tl_lightning.model.discover import UnsupportedArchError, discover_spec
from tl_lightning.model.module import TransferLearningModule
from tl_lightning.run.config.checks import check_config, resolve_image_size
from tl_lightning.run.inputs.feature_cache import find_cut
from tl_lightning.run.train import train


@pytest.mark.parametrize(
    ("name", "head", "groups"),
    [
        ("resnet18", "fc", ""),
        ("mobilenet_v2", "classifier.1", "features"),
        ("efficientnet_b0", "classifier.1", "features"),
        ("convnext_tiny", "classifier.2", "features"),
        ("densenet121", "classifier", "features"),
        ("vit_b_16", "heads.head", ""),
    ],
)
def test_head_groups_and_input_size_are_discovered(name, head, groups):
    spec = get_spec(name)
    assert (spec.head, spec.groups, spec.image_size) == (head, groups, 224)
    assert spec.default_unfreeze >= 1


@pytest.mark.parametrize(
    ("name", "why"),
    [("googlenet", "auxiliary"), ("squeezenet1_0", "no nn.Linear"), ("fasterrcnn_resnet50_fpn", "classification")],
)
def test_models_that_cannot_be_adapted_generically_are_refused(name, why):
    with pytest.raises(UnsupportedArchError, match=why):
        discover_spec(name)


def test_resnet18_groups_are_its_stages_in_forward_order():
    module = TransferLearningModule("resnet18", ["a", "b"], unfreeze=None, image_size=32)
    names = [n for n, _ in layer_groups(module.model, module.spec)]
    assert names == ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4"]
    trainable = {n.split(".")[0] for n, p in module.model.named_parameters() if p.requires_grad}
    assert trainable == {"layer4", "fc"}
    assert isinstance(module.model.fc, nn.Linear) and module.model.fc.out_features == 2


def test_extractor_keeps_the_dropout_before_a_nested_head_in_eval_mode():
    module = TransferLearningModule("mobilenet_v2", ["a", "b"], unfreeze=0, image_size=32).train()
    dropout, head = module.model.classifier
    assert isinstance(dropout, nn.Dropout) and not dropout.training
    assert head.training and head.out_features == 2 and head.in_features == 1280
    # So the head sees what the cache holds: identical logits in train and eval mode.
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        train_logits = module(x)
        assert torch.equal(train_logits, module.eval()(x))
    assert find_cut(module.model, module.spec, module.plan).tap == "classifier.1"


def test_image_size_null_takes_the_weights_crop_size(tmp_path: Path, tiny_data: Path):
    cfg = compose_cfg(["arch=torchvision", "arch.name=resnet18", f"data.root={tiny_data}"], tmp_path)
    assert cfg.arch.image_size is None
    resolve_image_size(cfg)
    assert cfg.arch.image_size == 224 and cfg.data.image_size == 224
    check_config(cfg)


def test_unknown_torchvision_name_is_refused_naming_the_setting(tmp_path: Path, tiny_data: Path):
    cfg = compose_cfg(["arch=torchvision", "arch.name=resnet_nope", f"data.root={tiny_data}"], tmp_path)
    with pytest.raises(ValueError, match="arch.name='resnet_nope'"):
        check_config(cfg)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("arch", "strategy", "input_cache"),
    [
        ("torchvision arch.name=resnet18", "mixed", "off: the layer groups"),
        ("mobilenet_v2", "extractor", "input of classifier.1"),
        ("mobilenet_v2", "mixed", "input of features.16"),
    ],
)
def test_discovered_archs_train_with_every_strategy(tiny_data: Path, tmp_path: Path, arch, strategy, input_cache):
    overrides = [*f"arch={arch}".split(), f"strategy={strategy}", *tiny_run(tiny_data, 32)]
    metrics = train(compose_cfg(overrides, tmp_path))
    assert metrics["input_cache"].startswith(input_cache)
    assert json.loads((tmp_path / "metrics.json").read_text())["epochs"] == 1
