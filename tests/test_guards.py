"""Config errors before any work, NaN losses, Inception's lone-image batch, and determinism on CPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hydra.errors import MissingConfigException

from conftest import compose_cfg, write_image_folder
from tl_lightning.model.module import TransferLearningModule
from tl_lightning.run.config.checks import check_config
from tl_lightning.run.recovery.finite_loss import NonFiniteLossError
from tl_lightning.run.train import train

CONFIG_ERRORS = [
    (("alexnet", "extractor", "arch.name=resnet"), r"arch=.resnet. is unknown: choose one of alexnet, inception_v3"),
    (("alexnet", "extractor", "strategy.name=partial"), r"strategy='partial' is unknown: choose one of extractor, "),
    (("alexnet", "extractor", "optimizer.lr=0"), r"optimizer.lr=0 must be > 0"),
    (("alexnet", "extractor", "optimizer.lr=-1e-3"), r"optimizer.lr=-0.001 must be > 0"),
    (("alexnet", "extractor", "trainer.max_epochs=0"), r"trainer.max_epochs=0 must be >= 1"),
    (("alexnet", "extractor", "data.batch_size=0"), r"data.batch_size=0 must be >= 1"),
    (("alexnet", "extractor", "cache.max_gb=0"), r"cache.max_gb=0 must be > 0 \(cache.features=false turns"),
    (("alexnet", "mixed", "strategy.unfreeze=6"), r"strategy.unfreeze=6 is out of range: this arch has 5 layer groups"),
    (("vgg16", "mixed", "strategy.unfreeze=-1"), r"strategy.unfreeze=-1 is out of range: this arch has 13 layer"),
    (("alexnet", "mixed", "strategy.unfreeze=two"), r"strategy.unfreeze='two' is out of range"),
    (("alexnet", "extractor", "data.on_bad_image=ignore"), r"data.on_bad_image='ignore' must be one of error, skip"),
    (("inception_v3", "mixed", "data.batch_size=1"), r"data.batch_size=1 cannot train inception_v3 .* BatchNorm"),
]


@pytest.mark.parametrize(("args", "message"), CONFIG_ERRORS, ids=[a[-1] for a, _ in CONFIG_ERRORS])
def test_config_errors_are_named_before_any_work(make_cfg, tmp_path, args, message):
    # A data root that does not exist: any work on data would raise a different error first.
    cfg = make_cfg(*args, f"data.root={tmp_path / 'absent'}", "data.download=false")
    with pytest.raises(ValueError, match=message):
        train(cfg)
    assert not (tmp_path / "absent").exists()


def test_all_config_errors_come_in_one_message(make_cfg):
    with pytest.raises(ValueError) as info:
        train(make_cfg("alexnet", "extractor", "optimizer.lr=0", "trainer.max_epochs=0", "data.batch_size=0"))
    assert str(info.value).count("\n  ") == 3


@pytest.mark.parametrize(("override", "choices"), [("arch=resnet", "alexnet"), ("strategy=partial", "extractor")])
def test_unknown_arch_or_strategy_choice_lists_the_choices(tmp_path, override, choices):
    group = override.split("=")[0]
    with pytest.raises(MissingConfigException, match=rf"Available options in '{group}':\s+{choices}"):
        compose_cfg([override], tmp_path)


def small_data(root: Path) -> Path:
    return write_image_folder(root, {"train": 2, "val": 1})  # 4 train images


def test_batch_size_one_is_accepted_where_batchnorm_is_frozen(make_cfg):
    check_config(make_cfg("inception_v3", "extractor", "data.batch_size=1"))  # eval-mode BatchNorm takes 1 image
    check_config(make_cfg("vgg16", "finetune", "data.batch_size=1"))  # no BatchNorm at all


def test_inception_survives_a_last_train_batch_of_one(make_cfg, tmp_path):
    # 4 train images in batches of 3 leave one image, which BatchNorm rejects in train mode.
    cfg = make_cfg("inception_v3", "mixed", "data.batch_size=3", f"data.root={small_data(tmp_path / 'd')}")
    assert train(cfg)["epochs"] == 1


def test_nan_loss_stops_with_epoch_and_step_and_keeps_the_last_good_checkpoint(make_cfg, monkeypatch):
    real = TransferLearningModule.losses

    def poisoned(self, out, y):
        losses = real(self, out, y)
        return losses._replace(total=losses.total * float("nan")) if self.current_epoch == 1 else losses

    monkeypatch.setattr(TransferLearningModule, "losses", poisoned)
    cfg = make_cfg("alexnet", "finetune", "trainer.max_epochs=3")
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    with pytest.raises(NonFiniteLossError, match=rf"non-finite loss \(nan\) at epoch 2, step 4 .*{last}"):
        train(cfg)
    checkpoint = torch.load(last, weights_only=True)
    assert checkpoint["epoch"] == 0 and len(checkpoint["history"]["train_loss"]) == 1
    assert all(torch.isfinite(v).all() for v in checkpoint["state_dict"].values() if v.is_floating_point())
    assert not (Path(cfg.paths.output_dir) / "metrics.json").exists()


def test_a_diverging_lr_is_caught(make_cfg):
    with pytest.raises(NonFiniteLossError, match=r"at epoch 1, step \d+ .*no epoch had finished yet.*optimizer.lr"):
        train(make_cfg("alexnet", "finetune", "optimizer=sgd", "optimizer.lr=1e12"))


def test_same_seed_on_cpu_gives_identical_metrics(make_cfg, tmp_path):
    runs = []
    for name in ("first", "second"):
        cfg = make_cfg("alexnet", "mixed", "trainer.max_epochs=2", "data.num_workers=2", f"paths.output_dir={tmp_path}")
        cfg.paths.output_dir = str(tmp_path / name)
        train(cfg)
        assert torch.are_deterministic_algorithms_enabled()
        runs.append(json.loads((tmp_path / name / "metrics.json").read_text()))
    volatile = ("wall_s", "best_checkpoint", "feature_store")
    first, second = ({k: v for k, v in m.items() if k not in volatile} for m in runs)
    assert first == second
