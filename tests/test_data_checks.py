"""User image folders: bad files, odd image modes and broken layouts fail clearly before training."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REAL_DATA, requires, write_image_folder
from tl_lightning.data import ImageFolderDataModule, scan
from tl_lightning.data.download import DatasetError
from tl_lightning.data.images import load_rgb
from tl_lightning.data.scan import BadImagesError, check_dataset
from tl_lightning.run.train import train


def datamodule(root: Path, **kwargs) -> ImageFolderDataModule:
    dm = ImageFolderDataModule(root, image_size=64, num_workers=0, download=False, **kwargs)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def add_bad_files(root: Path) -> dict[str, str]:
    """One of each kind of unusable file; returns relative path -> expected words in the reason."""
    good = (root / "train" / "ants" / "ants_0.jpg").read_bytes()
    noise = np.random.default_rng(1).integers(0, 255, len(good), dtype=np.uint8).tobytes()
    files = {
        "train/ants/truncated.jpg": (good[: len(good) // 2], "truncated"),
        "train/bees/corrupt.jpg": (good[:200] + noise[200:], "corrupt"),
        "val/ants/zero.jpg": (b"", "empty file (0 bytes)"),
        "val/bees/notes.txt": (b"labels were checked by hand\n", "not an image"),
        "train/bees/.DS_Store": (b"\x00\x00\x00\x01Bud1" + bytes(64), "not an image"),
    }
    for rel, (data, _) in files.items():
        (root / rel).write_bytes(data)
    return {rel: words for rel, (_, words) in files.items()}


@pytest.fixture
def dirty_data(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    root = write_image_folder(tmp_path / "dirty", {"train": 4, "val": 3})
    return root, add_bad_files(root)


def test_bad_files_fail_before_training_with_one_error_listing_all(dirty_data):
    root, bad = dirty_data
    with pytest.raises(BadImagesError) as info:
        datamodule(root)
    message = str(info.value)
    assert f"5 of {5 + 14} files under data.root={root}" in message
    for rel, words in bad.items():
        line = next(line for line in message.splitlines() if line.strip().startswith(str(root / rel) + ":"))
        assert words in line, line
    assert "data.on_bad_image=skip" in message


def test_bad_files_abort_train_before_the_model_exists(dirty_data, make_cfg, monkeypatch):
    root, _ = dirty_data

    def no_model(*args, **kwargs):
        raise AssertionError("the module was built although the data is bad")

    monkeypatch.setattr("tl_lightning.model.module.TransferLearningModule.__init__", no_model)
    with pytest.raises(BadImagesError):
        train(make_cfg("alexnet", "extractor", f"data.root={root}"))


def test_skip_warns_with_the_count_and_trains_on_the_rest(dirty_data, make_cfg):
    root, bad = dirty_data
    with pytest.warns(UserWarning, match=r"skipping 5 unreadable file\(s\) of 19"):
        dm = datamodule(root, on_bad_image="skip")
    assert (len(dm.train_set), len(dm.val_set)) == (8, 6)
    used = {Path(p).relative_to(root).as_posix() for p, _ in dm.train_set.samples + dm.val_set.samples}
    assert not used & set(bad)
    with pytest.warns(UserWarning, match="skipping 5"):
        metrics = train(make_cfg("alexnet", "extractor", f"data.root={root}", "data.on_bad_image=skip"))
    assert metrics["epochs"] == 1


def test_skip_refuses_a_class_left_without_images(tmp_path):
    root = write_image_folder(tmp_path / "d", {"train": 1, "val": 1})
    (root / "val" / "bees" / "bees_0.jpg").write_bytes(b"")
    with pytest.warns(UserWarning), pytest.raises(DatasetError, match=r"val/bees has no readable image left"):
        check_dataset(root, "skip")


def test_scan_is_cached_per_dataset_state(tmp_path, monkeypatch):
    root = write_image_folder(tmp_path / "d", {"train": 2, "val": 1})
    calls = []
    real = scan.image_problem
    monkeypatch.setattr(scan, "image_problem", lambda p, *limit: calls.append(p) or real(p, *limit))
    check_dataset(root)
    assert len(calls) == 6
    for _ in range(3):  # a sweep's later runs
        check_dataset(root)
    assert len(calls) == 6
    assert list(scan.cache_dir().glob("scan/*.json"))

    (root / "val" / "bees" / "bees_0.jpg").write_bytes(b"")  # a changed file is rescanned
    with pytest.raises(BadImagesError, match="bees_0.jpg: empty file"):
        check_dataset(root)
    assert len(calls) == 12


def test_unwritable_cache_only_costs_a_rescan(tmp_path, monkeypatch):
    root = write_image_folder(tmp_path / "d", {"train": 1, "val": 1})
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("TL_CACHE_DIR", str(blocker))
    assert check_dataset(root).num_files == 4


def write_odd_images(folder: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 255, (40, 52, 3), dtype=np.uint8)
    Image.fromarray(rgb).convert("L").save(folder / "gray.png")
    Image.fromarray(rgb).convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray(np.dstack([rgb, np.full((40, 52), 128, np.uint8)])).save(folder / "rgba.png")
    Image.fromarray(rng.integers(0, 65535, (40, 52), dtype=np.uint16)).save(folder / "deep16.png")
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "palette.gif")
    Image.fromarray(rgb).convert("P").save(folder / "palette.png", transparency=0)


def test_every_image_mode_loads_as_rgb_and_trains(tmp_path, make_cfg):
    root = write_image_folder(tmp_path / "modes", {"train": 2, "val": 2})
    for seed, split in enumerate(("train", "val")):  # other pixels in val: the same bytes in both splits are refused
        write_odd_images(root / split / "ants", seed)
    modes = {p.name: Image.open(p).mode for p in (root / "train" / "ants").iterdir()}
    assert {"L", "CMYK", "RGBA", "P"} <= set(modes.values()) and modes["deep16.png"].startswith("I")

    dm = datamodule(root)
    assert len(dm.train_set) == 2 * 2 + 6
    for i, (path, _) in enumerate(dm.train_set.samples):
        image = load_rgb(path)
        assert image.mode == "RGB" and image.size == (52, 40), path
        assert dm.train_set.image(i).shape[0] == 3  # decoded once, as RGB
    deep = np.asarray(load_rgb(str(root / "train" / "ants" / "deep16.png")))
    assert 60 < deep.mean() < 190  # scaled down from 16 bits, not clipped to white
    assert train(make_cfg("alexnet", "extractor", f"data.root={root}"))["epochs"] == 1


def layout_case(root: Path, case: str) -> Path:
    if case == "missing root":
        return root / "nowhere"
    if case == "root is a file":
        (root / "file.txt").write_text("")
        return root / "file.txt"
    data = write_image_folder(root / "data", {"train": 1, "val": 1})
    if case == "empty class folder":
        shutil.rmtree(data / "val" / "bees")
        (data / "val" / "bees").mkdir()
    elif case == "different class sets":
        shutil.rmtree(data / "val" / "bees")
        shutil.copytree(data / "val" / "ants", data / "val" / "wasps")
    elif case in ("missing val", "missing train"):
        shutil.rmtree(data / case.split()[1])
    elif case == "split without class folders":
        shutil.rmtree(data / "val")
        (data / "val").mkdir()
        (data / "val" / "stray.jpg").write_bytes((data / "train" / "ants" / "ants_0.jpg").read_bytes())
    return data


LAYOUT_ERRORS = {
    "missing root": r"data\.root=\S*nowhere does not exist",
    "root is a file": r"data\.root=\S*file\.txt is a file",
    "empty class folder": r"Class folder \S*val/bees is empty",
    "different class sets": r"only in train/: \['bees'\], only in val/: \['wasps'\]",
    "missing val": r"data\.root=\S*data has no val/ folder",
    "missing train": r"data\.root=\S*data has no train/ folder",
    "split without class folders": r"\S*data/val holds no class folders",
}


@pytest.mark.parametrize("case", list(LAYOUT_ERRORS))
def test_broken_layouts_name_the_path_and_the_expected_layout(tmp_path, case):
    root = layout_case(tmp_path, case)
    with pytest.raises(DatasetError, match=LAYOUT_ERRORS[case]) as info:
        datamodule(root)
    if case != "empty class folder":
        assert "expected data.root/train/<class>/<image> and data.root/val/<class>/<image>" in str(info.value)


@requires(REAL_DATA)
def test_real_dataset_scans_clean_and_keeps_the_gif():
    result = check_dataset(REAL_DATA)
    assert (result.classes, result.num_files, result.bad) == (["ants", "bees"], 398, {})
    dm = datamodule(REAL_DATA)
    assert (len(dm.train_set), len(dm.val_set)) == (245, 153)  # 244 + train/ants/imageNotFound.gif
