"""Shared fixtures: a tiny generated ImageFolder and Hydra configs composed against it."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict
from PIL import Image

from tl_lightning.conf import CONF_DIR
from tl_lightning.data.download import content_digest
from tl_lightning.run.config.schema import register_schema

SHARED = Path(__file__).resolve().parents[2] / "shared"
REAL_DATA = SHARED / "data" / "hymenoptera_data"
WEIGHTS = SHARED / "weights"
CLASSES = ("ants", "bees")
# Smallest sizes each net accepts (Inception needs 299 when its aux head trains).
TEST_SIZE = {"alexnet": 64, "vgg16": 32, "inception_v3": 75}


def write_image_folder(root: Path, per_class: dict[str, int], size: tuple[int, int] = (40, 52), seed: int = 0) -> Path:
    """Class-coloured noisy JPEGs, so a net can tell the classes apart within a few steps."""
    rng = np.random.default_rng(seed)
    for split, count in per_class.items():
        for c, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                base = np.array([200, 60, 40]) if c == 0 else np.array([40, 90, 210])
                pixels = np.clip(base + rng.normal(0, 40, (*size, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{name}_{i}.jpg", quality=90)
    return root


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_image_folder(tmp_path_factory.mktemp("tiny") / "data", {"train": 6, "val": 4})


@pytest.fixture
def archive(tmp_path: Path) -> tuple[str, str]:
    """A file:// URL of a zip laid out like the real one, and its content digest."""
    src = write_image_folder(tmp_path / "src" / "hymenoptera_data", {"train": 2, "val": 1})
    path = tmp_path / "hymenoptera_data.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for file in sorted(src.rglob("*")):
            zf.write(file, file.relative_to(src.parent).as_posix())
    return path.as_uri(), content_digest(src)


def compose_cfg(overrides: list[str], output_dir: Path) -> DictConfig:
    GlobalHydra.instance().clear()
    register_schema()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        cfg.paths.log_dir = str(output_dir)
        del cfg["hydra"]  # a real run's cfg has no hydra node; HydraConfig keeps it
    return cfg


def tiny_run(data: Path, image_size: int) -> list[str]:
    """Overrides of a one-epoch CPU run on `data` with random weights, in-process loading, no bars."""
    return ["arch.weights=none", f"arch.image_size={image_size}", f"data.root={data}", "data.num_workers=0",
            "trainer=cpu", "trainer.max_epochs=1", "trainer.enable_progress_bar=false"]  # fmt: skip


@pytest.fixture
def make_cfg(tiny_data: Path, tmp_path: Path):
    """Compose the real config for a fast CPU run on the tiny data, plus extra overrides."""

    def _make(arch: str = "alexnet", strategy: str = "extractor", *extra: str) -> DictConfig:
        size = 299 if (arch, strategy) == ("inception_v3", "finetune") else TEST_SIZE[arch]
        overrides = [
            f"arch={arch}",
            f"strategy={strategy}",
            *tiny_run(tiny_data, size),
            # The explanation (a second of every run) has its own tests; they pass explain settings of their own.
            *([] if any(e.lstrip("+~").startswith("explain") for e in extra) else ["explain=false"]),
            *extra,
        ]
        return compose_cfg(overrides, tmp_path / f"{arch}-{strategy}")

    yield _make
    GlobalHydra.instance().clear()


def requires(path: Path) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not path.exists(), reason=f"{path} is absent (../shared is not beside this checkout)")


@pytest.fixture(scope="session", autouse=True)
def scan_cache_dir(tmp_path_factory: pytest.TempPathFactory):
    """Keep the image-scan cache out of the user's ~/.cache (subprocesses inherit it too)."""
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("scan-cache")
        mp.setenv("TL_CACHE_DIR", str(path))
        yield path
