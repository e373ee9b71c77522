"""metrics.json says what defined a run and which train inputs it used; last-epoch predictions are written."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from tl_lightning.data import ImageFolderDataModule
from tl_lightning.model import TransferLearningModule
from tl_lightning.run.config.checks import ConfigError, check_config
from tl_lightning.run.inputs.feature_cache import build_cached_datamodule, find_cut
from tl_lightning.run.train import train

SETTINGS = [
    "arch",
    "strategy",
    "unfreeze",
    "weights",
    "weights_sha256",
    "head",
    "image_size",
    "augmentation",
    "input_cache",
    "batch_size",
    "steps_per_epoch",
    "optimizer",
    "lr",
    "scheduler",
    "max_epochs",
    "precision",
    "frozen_pass",
    "seed",
]


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_metrics_json_records_settings_and_provenance(make_cfg, tmp_path):
    weights = tmp_path / "alexnet-features.pth"
    torch.save(
        {
            k: v
            for k, v in TransferLearningModule("alexnet", ["a", "b"]).model.state_dict().items()
            if k.startswith("features.")
        },
        weights,
    )
    cfg = make_cfg("alexnet", "extractor", f"arch.weights={weights}", "seed=3")
    train(cfg)
    out = Path(cfg.paths.output_dir)
    saved = json.loads((out / "metrics.json").read_text())
    settings = saved["settings"]
    assert list(settings) == SETTINGS
    assert all(v is None or isinstance(v, (str, int, float, bool)) for v in settings.values())
    assert settings["weights"] == "alexnet-features.pth" and len(settings["weights_sha256"]) == 64
    assert (settings["arch"], settings["strategy"], settings["unfreeze"], settings["seed"]) == (
        "alexnet",
        "extractor",
        0,
        3,
    )
    assert (settings["augmentation"], settings["input_cache"], settings["head"]) == (
        "plain",
        "input of classifier",
        "classifier",
    )
    assert (settings["optimizer"], settings["lr"], settings["max_epochs"]) == ("Adam", 1e-4, 1)
    assert settings["scheduler"] == "StepLR(step_size=7, gamma=0.1)" and settings["precision"] == "32-true"
    assert settings["frozen_pass"] == "fp32"  # trainer=cpu: the exact pass
    assert settings["steps_per_epoch"] == 3  # 12 tiny train images, batch 4
    assert f"arch.weights={weights}" in saved["overrides"] and "seed=3" in saved["overrides"]
    assert saved["weights_source"] == f"file alexnet-features.pth (sha256 {settings['weights_sha256']})"
    assert saved["augmentation"] == "plain eval view (resize 73, center crop 64), cached once"
    assert saved["head"] == {"mode": "classifier", "replaced": "classifier", "in_features": 9216}
    assert saved["val_predictions_last"] == "val_predictions_last.csv"

    best, last = read_csv(out / "val_predictions.csv"), read_csv(out / "val_predictions_last.csv")
    assert [r["path"] for r in last] == [r["path"] for r in best] and len(last) == 8
    correct = sum(r["true"] == r["pred"] for r in last)
    assert correct / len(last) == pytest.approx(saved["val_acc_last"])


@pytest.mark.parametrize(
    ("strategy", "views", "regime", "cache"),
    [
        ("extractor", "fresh", "fresh", "off: strategy.cache_views=fresh draws new crops every epoch"),
        ("extractor", "3", "views-3", "input of classifier"),
        ("finetune", None, "fresh", "off"),
    ],
)
def test_every_regime_is_recorded_and_steps_are_counted_by_one_rule(make_cfg, strategy, views, regime, cache):
    # 12 train images at batch 11 leave a lone last sample: every path drops it, so one step per epoch.
    extra = ["data.batch_size=11", *([f"strategy.cache_views={views}"] if views else [])]
    metrics = train(make_cfg("alexnet", strategy, *extra))
    assert (metrics["settings"]["augmentation"], metrics["input_cache"]) == (regime, cache)
    assert metrics["settings"]["steps_per_epoch"] == 1
    assert "RandomResizedCrop(64)+flip" in metrics["augmentation"]


def test_plain_cache_counts_the_same_steps_as_images(make_cfg):
    metrics = train(make_cfg("alexnet", "extractor", "data.batch_size=11"))
    assert metrics["settings"]["steps_per_epoch"] == 1


@pytest.mark.parametrize("value", [1, 0, "views"])
def test_ambiguous_or_unknown_cache_views_are_refused_naming_the_choices(make_cfg, value):
    with pytest.raises(ConfigError, match=rf"strategy.cache_views={value!r}.*plain.*K >= 2.*fresh"):
        check_config(make_cfg("alexnet", "extractor", f"strategy.cache_views={value}"))


def test_cached_views_differ_are_reproducible_and_leave_the_global_rng_alone(tiny_data):
    data = ImageFolderDataModule(tiny_data, 64, batch_size=4, num_workers=0, seed=5)
    data.setup()
    module = TransferLearningModule("alexnet", data.classes, unfreeze=0, image_size=64)
    cut = find_cut(module.model, module.spec, module.plan)
    state = torch.get_rng_state()
    first = build_cached_datamodule(module.model, cut, data, 3, 16, torch.device("cpu")).train.views
    assert torch.equal(torch.get_rng_state(), state)
    again = build_cached_datamodule(module.model, cut, data, 3, 16, torch.device("cpu")).train.views
    assert torch.equal(first, again)
    assert not torch.equal(first[0], first[1]) and not torch.equal(first[1], first[2])


def test_lr_of_each_epoch_is_the_rate_that_epoch_trained_with(make_cfg):
    # StepLR(step_size=2, gamma=0.1) from 1e-3: epochs 1 and 2 train at 1e-3, epoch 3 at 1e-4. Recorded after
    # the epoch's scheduler step, epoch 2 would read 1e-4.
    cfg = make_cfg("alexnet", "extractor", "optimizer.lr=1e-3", "scheduler.step_size=2", "trainer.max_epochs=3")
    assert train(cfg)["lr"] == pytest.approx([1e-3, 1e-3, 1e-4])
