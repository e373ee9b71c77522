"""Train augmentation on the training device: same transform, same random stream, same batches."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from tl_lightning.data import ImageFolderDataModule
from tl_lightning.data.device_augment import IndexBatch


def datamodule(root, augment_on_device, **kwargs) -> ImageFolderDataModule:
    kwargs = {"num_workers": 0, **kwargs}
    dm = ImageFolderDataModule(root, image_size=48, batch_size=4, augment_on_device=augment_on_device, **kwargs)
    dm.setup()
    return dm


def train_batches(dm: ImageFolderDataModule, global_seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    torch.manual_seed(global_seed)  # the crops come from data.seed, epoch and index: the global RNG is no input
    return [dm.on_after_batch_transfer(batch, 0) for batch in dm.train_dataloader()]


def on_device(dm: ImageFolderDataModule, device: str) -> ImageFolderDataModule:
    dm.trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device(device)))
    return dm


def test_device_path_gives_the_loader_paths_batches(tiny_data):
    on_loader, on_dev = datamodule(tiny_data, False, seed=3), datamodule(tiny_data, True, seed=3)
    assert isinstance(next(iter(on_dev.train_dataloader())), IndexBatch)
    expected, got = train_batches(on_loader, 1), train_batches(on_dev, 2)
    assert len(got) == len(expected) == 3
    for (x, y), (ex, ey) in zip(got, expected, strict=True):
        assert x.shape == (4, 3, 48, 48) and x.dtype == torch.float32
        assert torch.equal(x, ex) and torch.equal(y, ey)
    # Different seeds draw different crops: the equality above is not of constant tensors.
    assert not torch.equal(train_batches(datamodule(tiny_data, True, seed=4), 2)[0][0], got[0][0])


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


def test_train_crops_come_from_seed_epoch_and_index_not_from_the_worker(tiny_data):
    """Persistent workers continue their own RNGs; a resumed run's fresh workers must still draw the same crops."""

    def epochs(num_workers: int, start: int) -> list[torch.Tensor]:
        dm = datamodule(tiny_data, False, num_workers=num_workers)
        progress = SimpleNamespace(current=SimpleNamespace(processed=start))  # a run resumed in epoch `start`
        dm.trainer = SimpleNamespace(fit_loop=SimpleNamespace(epoch_progress=progress))
        loader = dm.train_dataloader()
        batches = iter(loader)  # Lightning's order: a new loader is iterated (workers prefetch), then set_epoch
        loader.sampler.set_epoch(start)
        out = [torch.cat([x for x, _ in batches])]
        for epoch in range(start + 1, 3):
            loader.sampler.set_epoch(epoch)
            out.append(torch.cat([x for x, _ in loader]))
        return out

    uninterrupted = epochs(2, 0)
    assert not torch.equal(uninterrupted[1], uninterrupted[2])
    for got, expected in zip(epochs(2, 1), uninterrupted[1:], strict=True):  # resumed in epoch 2, new workers
        assert torch.equal(got, expected)
    assert all(torch.equal(a, b) for a, b in zip(epochs(0, 0), uninterrupted, strict=True))
