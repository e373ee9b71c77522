"""Hostile inputs, third round, on the image side (issue 20): spill files shared between runs or filling a disk,
thin images that cost gigabytes once resized, error lines naming 20,000 files, float TIFFs, edited scan caches."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from torchvision.datasets import ImageFolder

import tl_lightning
from conftest import write_image_folder
from tl_lightning.data.datamodule import ImageFolderDataModule
from tl_lightning.data.decoded import DecodedImages, decode
from tl_lightning.data.images import load_rgb
from tl_lightning.data.layout import DatasetError
from tl_lightning.data.scan import BadImagesError, SplitOverlapError, check_dataset

SRC = Path(tl_lightning.__file__).resolve().parents[1]  # the source under test, for subprocesses too


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("TL_CACHE_DIR", str(folder))
    return folder


# --- item 3: the decoded-image spill file -------------------------------------------------------------------

_SPILL_RUN = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import numpy as np
    from torchvision.datasets import ImageFolder
    from tl_lightning.data.decoded import DecodedImages, decode
    me, other = sys.argv[1], sys.argv[2]
    images = DecodedImages(ImageFolder("data/train"), 40, lambda x: x, memory_limit_mb=0, workers=1)
    Path(me).touch()
    deadline = time.time() + 120
    while not Path(other).exists() and time.time() < deadline:
        time.sleep(0.05)
    pairs = [(images.image(i).permute(1, 2, 0).numpy(), decode(p, 40)) for i, (p, _) in enumerate(images.samples)]
    same = all(np.array_equal(stored, fresh) for stored, fresh in pairs)
    print("own pixels" if images.spilled and same else "OTHER PIXELS")
    """
)


@pytest.mark.slow
def test_two_runs_with_the_same_relative_file_names_keep_their_own_pixels(tmp_path, cache):
    # Two projects, same relative paths and image sizes, different pixels, run at the same time (issue 20, 3).
    sync = tmp_path / "sync"
    sync.mkdir()
    procs = []
    for name, seed in (("a", 1), ("b", 2)):
        project = tmp_path / name
        write_image_folder(project / "data", {"train": 3}, seed=seed)
        cmd = [sys.executable, "-c", _SPILL_RUN, str(sync / name), str(sync / ("b" if name == "a" else "a"))]
        env = {**os.environ, "PYTHONPATH": str(SRC)}
        procs.append(subprocess.Popen(cmd, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    outs = [p.communicate(timeout=300) for p in procs]
    for proc, (out, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err.decode()[-2000:]
        assert out.decode().strip() == "own pixels"
    assert not list(cache.glob("decoded-*")), "a spill file outlived its run"


def test_the_spill_file_is_gone_as_soon_as_it_is_mapped(tmp_path, cache):
    root = write_image_folder(tmp_path / "data", {"train": 3})
    images = DecodedImages(ImageFolder(root / "train"), 40, lambda x: x, memory_limit_mb=0, workers=1)
    assert images.spilled
    assert not list(cache.glob("decoded-*")), "the spill file stays on disk (and after a kill -9 too)"
    first = images.samples[0][0]
    assert np.array_equal(images.image(0).permute(1, 2, 0).numpy(), decode(first, 40))


def test_a_disk_that_fills_during_the_reservation_is_one_error_and_leaves_nothing(tmp_path, cache, monkeypatch):
    def full(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full, raising=False)
    root = write_image_folder(tmp_path / "data", {"train": 3})
    with pytest.raises(DatasetError, match=r"Cannot spill .* \(No space left on device: the disk filled up\)"):
        DecodedImages(ImageFolder(root / "train"), 40, lambda x: x, memory_limit_mb=0, workers=1)
    assert not list(cache.glob("decoded-*"))


def test_too_little_free_space_is_refused_before_anything_is_written(tmp_path, cache, monkeypatch):
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage._replace(free=1000))
    root = write_image_folder(tmp_path / "data", {"train": 3})
    with pytest.raises(DatasetError, match=r"Cannot spill 0 MB .*\(0 MB free there\): point TL_CACHE_DIR at a"):
        DecodedImages(ImageFolder(root / "train"), 40, lambda x: x, memory_limit_mb=0, workers=1)
    assert not list(cache.glob("decoded-*"))


@pytest.fixture
def small_tmpfs(tmp_path: Path):
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_a_run_whose_cache_is_on_a_full_tmpfs_ends_with_one_error_not_a_bus_error(tmp_path, small_tmpfs):
    root = write_image_folder(tmp_path / "data", {"train": 4, "val": 2}, size=(120, 160))
    cmd = [sys.executable, "-m", "tl_lightning", "arch=alexnet", "arch.weights=none", "arch.image_size=224"]
    cmd += [f"data.root={root}", "data.num_workers=0", "data.memory_limit_mb=0", "trainer=cpu"]
    cmd += ["trainer.max_epochs=1", "print_config=false", f"hydra.run.dir={tmp_path / 'run'}"]
    env = {**os.environ, "PYTHONPATH": str(SRC), "TL_CACHE_DIR": str(small_tmpfs)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])  # a Bus error is -7 (135 from a shell)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Cannot spill 2 MB of decoded images to" in errors[0], done.stderr[-2000:]
    assert "MB free there" in errors[0] and "TL_CACHE_DIR" in errors[0]
    assert not list(small_tmpfs.glob("decoded-*"))


# --- item 6: thin images -------------------------------------------------------------------------------------


def test_a_thin_image_is_limited_by_what_it_stores_after_the_resize(tmp_path, cache):
    root = write_image_folder(tmp_path / "data", {"train": 2, "val": 1})
    Image.new("RGB", (8000, 1), (10, 20, 30)).save(root / "train" / "ants" / "strip.png")  # about 100 bytes
    datamodule = ImageFolderDataModule(root, image_size=64, num_workers=0)  # resized to 73 x 584,000 px
    with pytest.raises(BadImagesError) as refused:
        datamodule.setup("fit")
    message = str(refused.value)
    assert "strip.png: is 8000x1 (aspect ratio 8,000:1): resizing its shorter side to 73 px" in message
    assert "584000x73 = 42,632,000 pixels, above the limit of 40,000,000 (data.max_image_pixels)" in message
    # skip trains without it; a genuine panorama passes once the limit allows what it stores
    assert "train/ants/strip.png" in check_dataset(root, "skip", resize_side=73).bad
    assert check_dataset(root, max_pixels=43_000_000, resize_side=73).bad == {}


# --- item 8: error lines ---------------------------------------------------------------------------------------


def test_thousands_of_identical_files_are_named_a_few_and_counted(tmp_path, cache):
    root = write_image_folder(tmp_path / "data", {"train": 1, "val": 1})
    copy = root / "val" / "bees" / "bees_0.jpg"
    for i in range(300):
        shutil.copy(copy, root / "train" / "bees" / f"copy_{i:04d}.jpg")
    with pytest.raises(SplitOverlapError) as refused:
        check_dataset(root)
    message = str(refused.value)
    assert "train/bees/copy_0000.jpg = train/bees/copy_0001.jpg = val/bees/bees_0.jpg = ... and 298 more" in message
    assert len(message) < 1000, f"{len(message)} characters"


def test_thousands_of_bad_files_are_named_a_few_and_counted(tmp_path, cache):
    root = write_image_folder(tmp_path / "data", {"train": 1, "val": 1})
    for i in range(300):
        (root / "train" / "ants" / f"notes_{i:04d}.txt").write_text("not an image")
    with pytest.raises(BadImagesError) as refused:
        check_dataset(root)
    message = str(refused.value)
    assert message.startswith("300 of 304 files") and "notes_0019.txt" in message and "notes_0020" not in message
    assert "  ... and 280 more\n" in message and len(message) < 3000


# --- item 10: 32-bit float images ------------------------------------------------------------------------------


def test_a_float_tiff_in_0_1_decodes_as_its_grey_levels(tmp_path):
    values = np.tile(np.linspace(0, 1, 50, dtype=np.float32), (20, 1))
    Image.fromarray(values, mode="F").save(tmp_path / "float.tif")
    rgb = np.asarray(load_rgb(tmp_path / "float.tif"))
    assert rgb.shape == (20, 50, 3) and rgb[0, 0, 0] == 0 and rgb[0, -1, 0] == 255
    assert np.array_equal(rgb[..., 1], np.rint(values * 255).astype(np.uint8))


@pytest.mark.parametrize(("values", "named"), [(255.0, r"span \[0, 255\], not \[0, 1\]"), (np.nan, "NaN")])
def test_a_float_tiff_with_no_one_meaning_is_a_bad_file(tmp_path, cache, values, named):
    root = write_image_folder(tmp_path / "data", {"train": 1, "val": 1})
    pixels = np.zeros((20, 30), dtype=np.float32)
    pixels[0, 0] = values
    Image.fromarray(pixels, mode="F").save(root / "train" / "ants" / "depth.tif")
    with pytest.raises(BadImagesError, match=rf"depth.tif: 32-bit float pixels .*{named}"):
        check_dataset(root)


# --- item 12: an edited scan cache -----------------------------------------------------------------------------


def _edit_caches(cache: Path, **entries: object) -> int:
    files = list((cache / "scan").glob("*.json"))
    for file in files:
        file.write_text(json.dumps({**json.loads(file.read_text()), **entries}))
    return len(files)


def test_an_edited_scan_cache_cannot_switch_off_the_overlap_check(tmp_path, cache):
    root = write_image_folder(tmp_path / "data", {"train": 2, "val": 1})
    shutil.copy(root / "train" / "ants" / "ants_0.jpg", root / "val" / "ants" / "copy.jpg")
    with pytest.raises(SplitOverlapError):
        check_dataset(root)
    assert _edit_caches(cache, overlap=[], bad={}) >= 1
    with pytest.raises(SplitOverlapError, match="val/ants/copy.jpg"):
        check_dataset(root)


def test_an_edited_scan_cache_cannot_vouch_for_a_huge_image(tmp_path, cache):
    root = write_image_folder(tmp_path / "data", {"train": 2, "val": 1})
    Image.new("L", (3000, 3000)).save(root / "train" / "ants" / "big.png")
    with pytest.raises(BadImagesError):
        check_dataset(root, max_pixels=1_000_000)
    assert _edit_caches(cache, bad={}) >= 1
    with pytest.raises(BadImagesError, match="big.png: declares 3000x3000"):
        check_dataset(root, max_pixels=1_000_000)


def test_a_32_bit_integer_tiff_beyond_16_bits_is_a_bad_file_not_white(tmp_path, cache):
    root = write_image_folder(tmp_path / "data", {"train": 1, "val": 1})
    Image.fromarray(np.linspace(0, 1_000_000, 600).reshape(20, 30).astype(np.int32)).save(
        root / "val" / "ants" / "i.tif"
    )
    with pytest.raises(BadImagesError, match=r"i.tif: 32-bit integer pixels span \[0, 1000000\], beyond 16 bits"):
        check_dataset(root)
    with pytest.raises(ValueError, match="beyond 16 bits"):
        load_rgb(root / "val" / "ants" / "i.tif")
