"""Fill the caches on a machine with network, for compute nodes without it.

usage: python -m tl_lightning.prefetch [arch=A,B,...] [data.root=DIR]

arguments (key=value):
  arch       a comma list of config names (conf/arch/*.yaml) or torchvision classification model names;
             default: alexnet,vgg16,inception_v3
  data.root  where the dataset goes; default: $TL_DATA_DIR, else data/hymenoptera_data (as training
             resolves it)

examples:
  python -m tl_lightning.prefetch                                   # the study's data and three nets
  python -m tl_lightning.prefetch arch=alexnet,mobilenet_v2 data.root=/shared/hymenoptera_data

Downloads the dataset into data.root and each arch's ImageNet weights into torchvision's cache
($TORCH_HOME/hub/checkpoints). Point TL_DATA_DIR and TORCH_HOME of the compute nodes at the same (shared)
folders and nothing is fetched there.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torchvision
from omegaconf import OmegaConf

from tl_lightning.conf import CONF_DIR
from tl_lightning.data.download import ensure_dataset
from tl_lightning.model.archs import get_spec
from tl_lightning.model.weights import imagenet_state_dict
from tl_lightning.tools.cli import UsageError, run_tool

DEFAULT_ARCHS = "alexnet,vgg16,inception_v3"


@dataclass
class DataArgs:
    root: str = ""  # default: $TL_DATA_DIR, else data/hymenoptera_data


@dataclass
class PrefetchArgs:
    arch: str = DEFAULT_ARCHS
    data: DataArgs = field(default_factory=DataArgs)


def default_data_root() -> Path:
    return Path(os.environ.get("TL_DATA_DIR", "data/hymenoptera_data"))


def arch_name(arch: str) -> str:
    """The torchvision name behind a config name (conf/arch/<arch>.yaml), or `arch` itself."""
    path = CONF_DIR / "arch" / f"{arch}.yaml"
    name = OmegaConf.load(path).get("name") if path.is_file() else arch
    if not isinstance(name, str) or name == "???":
        raise UsageError(f"arch={arch}: name the torchvision model itself (e.g. arch=resnet18)")
    try:
        get_spec(name)
    except ValueError as err:
        raise UsageError(f"arch={arch}: {err}") from err
    return name


def prefetch(archs: list[str], data_root: Path) -> list[Path]:
    """Download what is missing; return the weight files now in the torchvision cache."""
    names = [arch_name(a) for a in archs]  # every name checked before anything is downloaded
    print(f"dataset: {ensure_dataset(data_root).resolve()}")
    files = []
    for name in names:
        imagenet_state_dict(name)  # downloads (with a progress bar) unless already cached, verifies the hash
        url = _weights_url(name)
        files.append(Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url))
        print(f"{name}: {files[-1]}")
    return files


def _weights_url(name: str) -> str:
    return torchvision.models.get_model_weights(name).DEFAULT.url


def _run(args: PrefetchArgs) -> int:
    root = Path(args.data.root).expanduser() if args.data.root else default_data_root()
    prefetch([a for a in str(args.arch).split(",") if a], root)
    hub = Path(torch.hub.get_dir()).parent
    print(f"On the compute nodes: export TL_DATA_DIR={root.resolve()} TORCH_HOME={hub.resolve()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_tool(__doc__, PrefetchArgs, _run, argv)


if __name__ == "__main__":
    sys.exit(main())
