"""Train augmentation on the training device: same transform, same random stream, same batches."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from tl_lightning.data import ImageFolderDataModule
from tl_lightning.data.device_augment import IndexBatch


def datamodule(root, augment_on_device, **kwargs) -> ImageFolderDataModule:
    dm = ImageFolderDataModule(
        root, image_size=48, batch_size=4, num_workers=0, augment_on_device=augment_on_device, **kwargs
    )
    dm.setup()
    return dm


def train_batches(dm: ImageFolderDataModule, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    torch.manual_seed(seed)
    return [dm.on_after_batch_transfer(batch, 0) for batch in dm.train_dataloader()]


def on_device(dm: ImageFolderDataModule, device: str) -> ImageFolderDataModule:
    dm.trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device(device)))
    return dm


def test_device_path_gives_the_loader_paths_batches(tiny_data):
    on_loader, on_dev = datamodule(tiny_data, False), datamodule(tiny_data, True)
    assert isinstance(next(iter(on_dev.train_dataloader())), IndexBatch)
    expected, got = train_batches(on_loader, 3), train_batches(on_dev, 3)
    assert len(got) == len(expected) == 3
    for (x, y), (ex, ey) in zip(got, expected, strict=True):
        assert x.shape == (4, 3, 48, 48) and x.dtype == torch.float32
        assert torch.equal(x, ex) and torch.equal(y, ey)
    # Different seeds draw different crops: the equality above is not of constant tensors.
    assert not torch.equal(train_batches(on_dev, 4)[0][0], got[0][0])


def test_val_batches_pass_through_unchanged(tiny_data):
    dm = datamodule(tiny_data, True)
    x, y = next(iter(dm.val_dataloader()))
    out = dm.on_after_batch_transfer((x, y), 0)
    assert out[0] is x and out[1] is y


def test_auto_is_on_for_cuda_only_and_never_for_spilled_images(tiny_data, tmp_path, monkeypatch):
    assert not datamodule(tiny_data, "auto")._train_on_device()  # no trainer: CPU
    assert not on_device(datamodule(tiny_data, "auto"), "cpu")._train_on_device()
    assert on_device(datamodule(tiny_data, "auto"), "cuda")._train_on_device()
    monkeypatch.setenv("TL_CACHE_DIR", str(tmp_path))
    assert not on_device(datamodule(tiny_data, "auto", memory_limit_mb=0), "cuda")._train_on_device()
    assert not on_device(datamodule(tiny_data, "auto", decode_once=False), "cuda")._train_on_device()


def test_bad_settings_name_the_setting(tiny_data):
    with pytest.raises(ValueError, match="data.augment_on_device must be auto, true or false"):
        ImageFolderDataModule(tiny_data, image_size=48, augment_on_device="gpu")
    with pytest.raises(ValueError, match="data.augment_on_device=true needs data.decode_once=true"):
        datamodule(tiny_data, True, decode_once=False).train_dataloader()


def test_a_run_with_device_augmentation_trains(make_cfg):
    from tl_lightning.run.train import train

    metrics = train(make_cfg("alexnet", "finetune", "data.augment_on_device=true", "model.channels_last=true"))
    assert len(metrics["val_acc"]) == 1 and 0 <= metrics["val_acc"][0] <= 1
