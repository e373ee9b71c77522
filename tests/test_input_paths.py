"""The fast input paths are exact: decode-once images and cached frozen activations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from torchvision.datasets import ImageFolder

from conftest import TEST_SIZE
from tl_lightning.data import ImageFolderDataModule
from tl_lightning.data.decoded import DecodedImages
from tl_lightning.data.transforms import eval_transform
from tl_lightning.model.frozen_pass import FrozenPass
from tl_lightning.model.module import TransferLearningModule
from tl_lightning.run.inputs.feature_cache import build_cached_datamodule, find_cut


def datamodule(root, size: int, decode_once: bool = True) -> ImageFolderDataModule:
    dm = ImageFolderDataModule(root, image_size=size, batch_size=4, num_workers=0, decode_once=decode_once)
    dm.setup()
    return dm


def test_decoded_eval_view_is_bit_identical_to_the_pil_pipeline(tiny_data):
    pil = ImageFolder(tiny_data / "val", transform=eval_transform(64))
    decoded = datamodule(tiny_data, 64).val_set
    assert isinstance(decoded, DecodedImages) and len(decoded) == len(pil)
    for i in range(len(pil)):
        assert torch.equal(decoded[i][0], pil[i][0]) and decoded[i][1] == pil[i][1]


def test_decoded_train_view_is_augmented_at_the_input_size(tiny_data):
    train = datamodule(tiny_data, 64).train_set
    torch.manual_seed(0)
    a, b = train[0][0], train[0][0]
    assert a.shape == (3, 64, 64) and a.dtype == torch.float32 and not torch.equal(a, b)


def test_images_spill_to_a_memory_mapped_file_above_the_limit(tiny_data, tmp_path, monkeypatch):
    monkeypatch.setenv("TL_CACHE_DIR", str(tmp_path / "cache"))
    folder = ImageFolder(tiny_data / "val")
    in_ram = DecodedImages(folder, 73, eval_transform(64), memory_limit_mb=1e9)
    mapped = DecodedImages(folder, 73, eval_transform(64), memory_limit_mb=0)
    assert isinstance(mapped.storage, np.memmap)
    # The spill file is the run's own: its name is gone from the cache folder once it is mapped (data/spill.py).
    assert (tmp_path / "cache").is_dir() and not [p for p in (tmp_path / "cache").iterdir() if p.is_file()]
    assert not isinstance(in_ram.storage, np.memmap)
    assert all(torch.equal(in_ram[i][0], mapped[i][0]) for i in range(len(folder)))


def _logits_both_ways(tiny_data, arch: str, unfreeze) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    module = TransferLearningModule(arch, ["ants", "bees"], unfreeze=unfreeze, image_size=TEST_SIZE[arch]).eval()
    images = datamodule(tiny_data, TEST_SIZE[arch])
    cut = find_cut(module.model, module.spec, module.plan)
    cached = build_cached_datamodule(module.model, cut, images, views=None, batch_size=5, device=torch.device("cpu"))
    module.eval()
    with torch.no_grad():
        plain = torch.cat([module(x) for x, _ in DataLoader(images.val_set, batch_size=3)])
        module.use_cached_inputs(cut.tail)
        from_cache = torch.cat([module(x) for x, _ in cached.val_dataloader()])
    return plain, from_cache


@pytest.mark.parametrize(
    ("arch", "unfreeze"), [("alexnet", 0), ("inception_v3", 0), ("vgg16", 0), ("alexnet", 2), ("vgg16", 3)]
)
def test_cached_and_uncached_runs_give_the_same_val_logits(tiny_data, arch, unfreeze):
    plain, from_cache = _logits_both_ways(tiny_data, arch, unfreeze)
    assert plain.shape == from_cache.shape == (8, 2)
    torch.testing.assert_close(from_cache, plain, rtol=1e-4, atol=1e-5)  # float summation order only


def test_inception_mixed_falls_back_with_a_reason():
    module = TransferLearningModule("inception_v3", ["a", "b"], unfreeze=3, image_size=75)
    reason = find_cut(module.model, module.spec, module.plan)
    assert isinstance(reason, str) and "no exact cut" in reason
    finetune = TransferLearningModule("alexnet", ["a", "b"], unfreeze="all", image_size=64)
    assert "every layer trains" in find_cut(finetune.model, finetune.spec, finetune.plan)


def test_k_augmented_views_are_cached_per_image(tiny_data):
    torch.manual_seed(0)
    module = TransferLearningModule("alexnet", ["ants", "bees"], unfreeze=0, image_size=64)
    cut = find_cut(module.model, module.spec, module.plan)
    cached = build_cached_datamodule(module.model, cut, datamodule(tiny_data, 64), 3, 4, torch.device("cpu"))
    views = cached.train.views
    assert views.shape == (3, 12, 9216)
    assert not torch.equal(views[0], views[1])
    x, y = next(iter(cached.train_dataloader()))
    assert x.shape == (4, 9216) and y.shape == (4,)


def test_cached_runs_checkpoint_only_the_network(make_cfg):
    from tl_lightning.run.train import train

    cfg = make_cfg("alexnet", "extractor")
    metrics = train(cfg)
    assert metrics["input_cache"] == "input of classifier"
    state = torch.load(metrics["best_checkpoint"], map_location="cpu", weights_only=True)["state_dict"]
    assert all(k.startswith(("model.", "metrics.")) for k in state), sorted(state)[:5]
    reloaded = TransferLearningModule.load_from_checkpoint(metrics["best_checkpoint"], weights="none")
    assert torch.equal(reloaded.model.classifier.weight, state["model.classifier.weight"])


@pytest.mark.slow
def test_cache_pass_runs_in_the_training_precision(tiny_data):
    """Under bf16-mixed the cached activations are the bf16 ones the uncached run computes."""
    bf16 = lambda: torch.autocast("cpu", dtype=torch.bfloat16)  # noqa: E731  (what bf16-mixed runs under)
    in_trainer = FrozenPass("trainer precision (bf16-mixed)", "cpu", fallback=bf16)  # frozen_pass=auto's choice
    torch.manual_seed(0)
    module = TransferLearningModule("vgg16", ["ants", "bees"], unfreeze=3, image_size=32).eval()
    images = datamodule(tiny_data, 32)
    cut = find_cut(module.model, module.spec, module.plan)
    cpu = torch.device("cpu")
    cached = build_cached_datamodule(
        module.model, cut, images, views=None, batch_size=5, device=cpu, precision=in_trainer
    )
    fp32_cache = build_cached_datamodule(module.model, cut, images, views=None, batch_size=5, device=cpu)
    with torch.no_grad(), bf16():
        plain = torch.cat([module(x) for x, _ in DataLoader(images.val_set, batch_size=3)])
        module.use_cached_inputs(cut.tail)
        from_cache = torch.cat([module(x) for x, _ in cached.val_dataloader()])
        from_fp32_cache = torch.cat([module(x) for x, _ in fp32_cache.val_dataloader()])
    error, fp32_cache_error = (from_cache - plain).abs().max(), (from_fp32_cache - plain).abs().max()
    # Equal here; bf16 kernels may round differently per batch size elsewhere, hence a tolerance.
    torch.testing.assert_close(from_cache, plain, rtol=1e-2, atol=1e-3)
    assert error < fp32_cache_error  # an fp32 cache is not what a bf16 run computes


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["extractor", "mixed"])
def test_bf16_mixed_runs_train_on_the_bf16_cache(make_cfg, strategy):
    from tl_lightning.run.train import train

    metrics = train(make_cfg("vgg16", strategy, "trainer.precision=bf16-mixed"))
    assert metrics["input_cache"].startswith("input of ") and 0 <= metrics["val_acc_best"] <= 1
