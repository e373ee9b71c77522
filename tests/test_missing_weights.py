"""arch.missing_weights: a weights folder without an arch's file is refused (error) or means random init (random)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torchvision
from omegaconf import OmegaConf

from tl_lightning.report.runs import Run
from tl_lightning.run.config.checks import ConfigError
from tl_lightning.run.inputs.prepare import InputsError, prepare_sweep
from tl_lightning.run.train import train


@pytest.fixture
def alexnet_only(tmp_path: Path) -> Path:
    """A weights folder like the offline one: an AlexNet file, no VGG16 file."""
    folder = tmp_path / "weights"
    folder.mkdir()
    features = {k: v for k, v in torchvision.models.alexnet().state_dict().items() if k.startswith("features.")}
    torch.save(features, folder / "alexnet-owt-7be5be79.pth")
    return folder


def test_by_default_a_folder_without_the_archs_file_is_refused(make_cfg, alexnet_only):
    with pytest.raises(ConfigError, match=r"needs exactly one vgg16-\*\.pth file .*arch\.missing_weights=random"):
        train(make_cfg("vgg16", "extractor", f"arch.weights={alexnet_only}"))


def test_random_trains_the_arch_without_a_file_from_random_init_and_says_so(make_cfg, alexnet_only):
    cfg = make_cfg("vgg16", "extractor", f"arch.weights={alexnet_only}", "arch.missing_weights=random")
    metrics = train(cfg)
    saved = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert saved["settings"]["weights"] == "none" and saved["settings"]["missing_weights"] == "random"
    assert "arch.missing_weights=random" in saved["weights_source"] and str(alexnet_only) in saved["weights_source"]
    assert metrics["epochs"] == 1
    run = Run("vgg16", Path(cfg.paths.output_dir), "vgg16", "extractor", 0, settings=saved["settings"])
    assert "random init" in run.weights_text()  # the summary's weights column
    # The arch that has its file still loads it.
    with_file = train(make_cfg("alexnet", "extractor", f"arch.weights={alexnet_only}", "arch.missing_weights=random"))
    assert with_file["settings"]["weights"] == "alexnet-owt-7be5be79.pth"
    assert "missing_weights" not in with_file["settings"]


def test_a_sweep_with_random_starts_where_error_refuses(make_cfg, alexnet_only):
    cfg = make_cfg("alexnet", "extractor", f"arch.weights={alexnet_only}")
    sweep = OmegaConf.create(OmegaConf.to_container(cfg))
    sweep.hydra = {"overrides": {"task": []}, "sweeper": {"params": {"arch": "alexnet,vgg16"}}}
    with pytest.raises(InputsError, match="vgg16"):
        prepare_sweep(sweep)
    sweep.arch.missing_weights = "random"
    prepare_sweep(sweep)


def test_a_bad_value_is_named(make_cfg):
    with pytest.raises(ConfigError, match=r"arch\.missing_weights='skip' must be one of error, random"):
        train(make_cfg("alexnet", "extractor", "arch.missing_weights=skip"))
