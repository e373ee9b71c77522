"""Hostile image folders: symlinked splits, broken and looping links, one class, huge declared images,
files rewritten behind the scan cache, and a spill that must not hold every image in RAM first."""

from __future__ import annotations

import os
import struct
import tracemalloc
import zlib
from pathlib import Path

import pytest
from PIL import Image
from torchvision.datasets import ImageFolder

from conftest import write_image_folder
from tl_lightning.data.decoded import DecodedImages
from tl_lightning.data.layout import DatasetError
from tl_lightning.data.scan import BadImagesError, check_dataset
from tl_lightning.run.config.checks import ConfigError
from tl_lightning.run.train import train


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_image_folder(tmp_path / "data", {"train": 3, "val": 2})


def test_val_that_is_train_through_a_symlink_is_refused(tmp_path):
    root = write_image_folder(tmp_path / "data", {"train": 3})
    (root / "val").symlink_to(root / "train")
    with pytest.raises(DatasetError, match=r"6 file\(s\) under data.root=.* are in both train/ and val/"):
        check_dataset(root)


def test_a_val_image_that_is_a_copy_of_a_train_image_is_refused(data):
    (data / "val" / "bees" / "copy.jpg").write_bytes((data / "train" / "bees" / "bees_1.jpg").read_bytes())
    with pytest.raises(DatasetError, match="train/bees/bees_1.jpg = val/bees/copy.jpg"):
        check_dataset(data)


@pytest.mark.parametrize("on_bad_image", ["error", "skip"])
def test_dangling_and_looping_symlinks_are_named_bad_files(data, on_bad_image):
    (data / "train" / "ants" / "gone.jpg").symlink_to(data / "nowhere.jpg")
    (data / "val" / "bees" / "self.jpg").symlink_to(data / "val" / "bees" / "self.jpg")
    if on_bad_image == "error":
        with pytest.raises(BadImagesError) as err:
            check_dataset(data)
        assert f"{data / 'train/ants/gone.jpg'}: broken symbolic link to {data / 'nowhere.jpg'}" in str(err.value)
        assert f"{data / 'val/bees/self.jpg'}: symbolic link loop" in str(err.value)
    else:
        with pytest.warns(UserWarning, match="skipping 2 unreadable file"):
            result = check_dataset(data, "skip")
        assert sorted(result.bad) == ["train/ants/gone.jpg", "val/bees/self.jpg"]


def test_a_folder_symlink_looping_to_its_parent_is_refused(data):
    (data / "train" / "ants" / "again").symlink_to(data / "train")
    with pytest.raises(DatasetError, match=r"again is a symbolic link to .*train, a folder that contains it"):
        check_dataset(data)


def test_a_single_class_is_refused(tmp_path):
    root = write_image_folder(tmp_path / "data", {"train": 3, "val": 2})
    for split in ("train", "val"):
        for f in (root / split / "bees").iterdir():
            f.unlink()
        (root / split / "bees").rmdir()
    with pytest.raises(DatasetError, match=r"has 1 class folder \(ants\): a classifier needs at least two"):
        check_dataset(root)


def test_an_image_declaring_huge_dimensions_is_bad_before_it_is_decoded(data):
    # 7000 x 7000 one-bit pixels of zeros compress to a few kB, but decode to 147 MB of RGB.
    Image.new("1", (7000, 7000)).save(data / "train" / "ants" / "bomb.png")
    assert (data / "train" / "ants" / "bomb.png").stat().st_size < 20_000
    with pytest.raises(BadImagesError, match=r"bomb.png: declares 7000x7000 = 49,000,000 pixels, above the limit"):
        check_dataset(data)
    assert check_dataset(data, max_pixels=50_000_000).bad == {}


def test_a_file_rewritten_behind_the_scan_cache_is_rescanned(data):
    check_dataset(data)  # cached: every file good
    victim = data / "train" / "ants" / "ants_0.jpg"
    st = victim.stat()
    victim.write_bytes(bytes(st.st_size))  # same size ...
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))  # ... and same modification time
    with pytest.raises(BadImagesError, match="ants_0.jpg: not an image"):
        check_dataset(data)


def test_spilled_images_are_decoded_into_the_file_not_into_ram_first(tmp_path):
    root = write_image_folder(tmp_path / "data", {"train": 30}, size=(120, 120))
    folder = ImageFolder(root / "train")
    tracemalloc.start()
    try:
        images = DecodedImages(folder, 120, lambda x: x, memory_limit_mb=0, workers=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    total = 60 * 120 * 120 * 3
    assert images.spilled and images.offsets[-1] == total
    assert peak < total / 5, f"peak {peak} B of Python-tracked memory while spilling {total} B"


def test_too_small_image_size_is_refused_before_the_scan(data, make_cfg):
    (data / "train" / "ants" / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ConfigError, match="arch.image_size=32 is too small for alexnet: the minimum is 63 px"):
        train(make_cfg("alexnet", "extractor", f"data.root={data}", "arch.image_size=32"))


def test_an_unwritable_spill_folder_is_named_with_the_fix(tmp_path, monkeypatch):
    root = write_image_folder(tmp_path / "data", {"train": 2})
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("TL_CACHE_DIR", str(tmp_path / "file" / "cache"))  # unwritable, even for root
    with pytest.raises(DatasetError, match=r"Cannot spill 0 MB of decoded images to .*point TL_CACHE_DIR"):
        DecodedImages(ImageFolder(root / "train"), 40, lambda x: x, memory_limit_mb=0)


def test_spilling_works_with_file_names_that_are_not_utf8(tmp_path):
    root = write_image_folder(tmp_path / "data", {"train": 2})
    folder = os.fsencode(root / "train" / "ants")
    os.rename(os.path.join(folder, b"ants_0.jpg"), os.path.join(folder, b"\xff.jpg"))
    images = DecodedImages(ImageFolder(root / "train"), 40, lambda x: x, memory_limit_mb=0)
    assert images.spilled and len(images) == 4


def test_a_65_byte_png_declaring_ten_billion_pixels_is_named(data):
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 1, 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    (data / "val" / "ants" / "tiny.png").write_bytes(png)
    with pytest.raises(BadImagesError, match=r"tiny.png: declares too many pixels to decode .*data.max_image_pixels"):
        check_dataset(data)
