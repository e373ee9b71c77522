"""arch.head: the whole classifier becomes one Linear, or only its last Linear is replaced (fc6/fc7 kept)."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from tl_lightning.model.archs import ARCHS, build_backbone, with_head
from tl_lightning.model.module import TransferLearningModule
from tl_lightning.model.weights import WeightsError
from tl_lightning.run.config.checks import ConfigError, check_config
from tl_lightning.run.inputs.feature_cache import find_cut
from tl_lightning.run.outputs.provenance import head_info

CLASSES = ["ants", "bees"]


def alexnet(head: str, weights: str = "none", unfreeze: int | str = 0) -> TransferLearningModule:
    return TransferLearningModule("alexnet", CLASSES, weights=weights, unfreeze=unfreeze, image_size=64, head=head)


@pytest.mark.parametrize(
    ("arch", "replaced"), [("alexnet", "classifier.6"), ("vgg16", "classifier.6"), ("inception_v3", "fc")]
)
def test_last_linear_names_the_last_linear_of_the_tables_head(arch, replaced):
    model = build_backbone(arch)
    assert with_head(model, ARCHS[arch], "last_linear").head == replaced
    assert with_head(model, ARCHS[arch], "classifier").head == ARCHS[arch].head


def test_classifier_mode_is_one_linear_and_last_linear_keeps_fc6_fc7():
    whole, last = alexnet("classifier"), alexnet("last_linear")
    assert isinstance(whole.model.classifier, torch.nn.Linear) and whole.model.classifier.in_features == 9216
    assert head_info(whole) == {"mode": "classifier", "replaced": "classifier", "in_features": 9216}
    assert [type(m).__name__ for m in last.model.classifier] == [
        "Dropout", "Linear", "ReLU", "Dropout", "Linear", "ReLU", "Linear"
    ]  # fmt: skip
    assert head_info(last) == {"mode": "last_linear", "replaced": "classifier.6", "in_features": 4096}
    trainable = {n for n, p in last.model.named_parameters() if p.requires_grad}
    assert trainable == {"classifier.6.weight", "classifier.6.bias"}
    last.train()
    assert not last.model.classifier[0].training and not last.model.classifier[3].training  # frozen dropout off
    cut = find_cut(last.model, last.spec, last.plan)
    assert cut.tap == "classifier.6"


def test_last_linear_loads_fc6_fc7_from_a_complete_file(tmp_path):
    complete = build_backbone("alexnet").state_dict()
    path = tmp_path / "alexnet-complete.pth"
    torch.save(complete, path)
    module = alexnet("last_linear", str(path))
    assert torch.equal(module.model.classifier[1].weight, complete["classifier.1.weight"])
    assert torch.equal(module.model.classifier[4].weight, complete["classifier.4.weight"])
    assert module.model.classifier[6].out_features == 2


def test_last_linear_with_features_only_weights_is_refused_naming_the_random_layers(tmp_path, make_cfg):
    features = {k: v for k, v in build_backbone("alexnet").state_dict().items() if k.startswith("features.")}
    path = tmp_path / "alexnet-features.pth"
    torch.save(features, path)
    alexnet("classifier", str(path))  # the whole classifier is new: features alone suffice
    with pytest.raises(WeightsError, match=r"leaves random: classifier\.1\.weight.*arch\.head=classifier"):
        alexnet("last_linear", str(path))
    with pytest.raises(ConfigError, match=r"classifier\.1\.weight.*arch\.head=last_linear"):
        check_config(make_cfg("alexnet", "extractor", f"arch.weights={path}", "arch.head=last_linear"))
    with pytest.raises(ConfigError, match=r"arch\.head='fc8' is unknown: use one of classifier, last_linear"):
        check_config(make_cfg("alexnet", "extractor", "arch.head=fc8"))


def test_inception_logs_the_main_loss_as_train_loss_and_aux_and_total_beside_it():
    torch.manual_seed(0)
    module = TransferLearningModule("inception_v3", CLASSES, unfreeze="all", image_size=299)
    x, y = torch.randn(4, 3, 299, 299), torch.tensor([0, 1, 0, 1])
    loader = DataLoader(TensorDataset(x, y), batch_size=2)
    trainer = L.Trainer(
        max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, deterministic=True,
    )  # fmt: skip
    trainer.fit(module, loader, loader)
    h = module.history
    assert h["train_total_loss"][0] == pytest.approx(h["train_loss"][0] + 0.4 * h["train_aux_loss"][0], rel=1e-5)
    assert h["train_aux_loss"][0] > 0
    logged = trainer.callback_metrics
    assert float(logged["train/loss"]) == pytest.approx(h["train_loss"][0])
    assert float(logged["train/aux_loss"]) == pytest.approx(h["train_aux_loss"][0])
    assert float(logged["train/total_loss"]) == pytest.approx(h["train_total_loss"][0])
    assert "train_aux_loss" not in alexnet("classifier").history  # only where an aux head trains
