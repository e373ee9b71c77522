"""The frozen pass of a run: the input of the cut for every image of a data folder, read from the feature store
where an earlier run (another seed, fold, split seed or strategy with the same cut) computed it, else computed
here and stored.

Every pass runs over a data folder (train/ or val/) in the folder's own order and in batches of
strategy.cache_batch_size, whichever fold or seed the run trains on, and the run then takes its images' rows.
So a run computes each activation exactly as every other run does (the batch is part of the number on some CPU
kernels), and reading the store gives byte-identical results to computing everything (cache.features=false).
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset, Subset

from tl_lightning.data import ImageFolderDataModule
from tl_lightning.data.transforms import eval_transform
from tl_lightning.features import keys
from tl_lightning.features.bf16_hint import bf16_hint
from tl_lightning.features.store import FeatureStore, default_root
from tl_lightning.model.cut import capture_inputs
from tl_lightning.model.explain.features import Split, cut_for
from tl_lightning.model.frozen_pass import FrozenPass, replay
from tl_lightning.model.module import TransferLearningModule

log = logging.getLogger(__name__)


@dataclass
class StoreUse:
    """How one run's frozen passes went; metrics.json `feature_store`."""

    store: FeatureStore | None
    off: str | None = None  # why the store is not used
    read: int = 0  # activations (images) read from the store
    computed: int = 0  # activations computed by this run
    seconds: float = 0.0  # time in frozen passes, reading included
    _networks: dict = field(default_factory=dict, repr=False)

    def network(self, model: nn.Module, tap: str, image_size: int, frozen: FrozenPass) -> str:
        """keys.network, probed once per run and cut (the train and val folders share it)."""
        key = (id(model), tap, image_size, frozen.name)
        if key not in self._networks:
            self._networks[key] = keys.network(model, tap, image_size, frozen)
        return self._networks[key]

    @property
    def hint_root(self) -> Path:
        """Where measurements about this machine are kept (the bf16 hint): beside the store, or in its place."""
        return self.store.root if self.store is not None else default_root()

    def record(self) -> dict:
        where = str(self.store.root) if self.store is not None else None
        return {"folder": where, "off": self.off, "read": self.read, "computed": self.computed,
                "seconds": round(self.seconds, 2)}  # fmt: skip


def open_store(settings: dict | None, data_root: Path, run_dir: Path | None) -> StoreUse:
    """The store as `cache.features` / `cache.max_gb` configure it, or why it is off (never inside the dataset or a
    run folder: it would be read as data, or deleted with the run)."""
    settings = dict(settings or {})
    if not settings.get("features", True):
        return StoreUse(None, off="cache.features=false")
    root = default_root().resolve()
    for name, folder in (("data.root", data_root), ("the run folder", run_dir)):
        if folder is not None and root.is_relative_to(Path(folder).resolve()):
            return StoreUse(None, off=f"the store folder {root} is inside {name} ({folder}); set TL_CACHE_DIR")
    return StoreUse(FeatureStore(root, int(float(settings.get("max_gb", 4)) * 2**30)))


def store_line(use: StoreUse) -> str:
    """One line on what the frozen passes cost and where their activations came from."""
    source = f"the feature store is off ({use.off})" if use.store is None else f"feature store {use.store.root}"
    return f"Frozen pass: {use.read} activations read, {use.computed} computed, {use.seconds:.1f} s ({source})."


class FolderView(Dataset):
    """The images of one data folder, in its own order, in the eval view, served by the run's (fold) sets."""

    def __init__(self, samples: list[tuple[str, int]], sets: list[Dataset]) -> None:
        where = {path: (s, i) for s in sets for i, (path, _) in enumerate(s.samples)}
        self.samples, self.targets = samples, [t for _, t in samples]
        self.items = [where[path] for path, _ in samples]
        self.view_of = sets[0]  # the class and transform that make the tensors (keys.view)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        source, i = self.items[index]
        return source[i]


def frozen_pass(
    model: nn.Module,
    tap: str,
    folder: FolderView,
    image_size: int,
    batch_size: int,
    num_workers: int,
    device: torch.device,
    frozen: FrozenPass,
    use: StoreUse,
) -> torch.Tensor:
    """The input of module `tap` for every image of `folder`, in its order (fp32 NCHW, on the CPU)."""
    start, store = time.perf_counter(), use.store
    if store is None:
        use.computed += len(folder)
        x = _compute(model, tap, folder, batch_size, num_workers, device, frozen)
        use.seconds += time.perf_counter() - start
        return x
    batches = [range(i, min(i + batch_size, len(folder))) for i in range(0, len(folder), batch_size)]
    images = keys.file_digests([path for path, _ in folder.samples])
    common = keys.digest(
        use.network(model, tap, image_size, frozen),
        keys.view(folder.view_of, image_size),
        frozen.name,
        keys.environment(device),
    )
    names = [keys.digest(common, [images[i] for i in batch]) for batch in batches]
    found = {name: store.read(name) for name in names}
    computed = 0
    if any(found[name] is None for name in names):
        with store.lock(keys.digest(common, names)):  # one job computes a pass; the others then read it
            for name in names:
                found[name] = found[name] if found[name] is not None else store.read(name)
            missing = [j for j, name in enumerate(names) if found[name] is None]
            if missing:
                # Only the last batch can be short, so the missing batches re-form exactly in one loader.
                rows = [i for j in missing for i in batches[j]]
                x = _compute(model, tap, Subset(folder, rows), batch_size, num_workers, device, frozen)
                for j, part in zip(missing, x.split([len(batches[j]) for j in missing]), strict=True):
                    found[names[j]] = part
                    store.write(names[j], part)
                computed = len(rows)
                store.evict(keep=set(names))
    use.computed += computed
    use.read += len(folder) - computed
    use.seconds += time.perf_counter() - start
    return torch.cat([found[name] for name in names])


def _compute(
    model: nn.Module,
    tap: str,
    data: Dataset,
    batch_size: int,
    num_workers: int,
    device: torch.device,
    frozen: FrozenPass,
) -> torch.Tensor:
    # A generator of its own: a worker loader would otherwise draw its base seed from the global RNG.
    loader = DataLoader(
        data, batch_size=batch_size, num_workers=num_workers, generator=torch.Generator().manual_seed(0)
    )
    return capture_inputs(model, tap, loader, device, frozen)[0]


def folder_views(images: ImageFolderDataModule) -> list[FolderView]:
    """train/ and val/ as the data folders hold them (before any fold split), in the eval view."""
    images.setup()
    plain = copy.copy(images.train_set)
    plain.transform = eval_transform(images.image_size)
    return [FolderView(samples, [plain, images.val_set]) for samples in images.folder_samples]


def plain_inputs(
    model: nn.Module,
    tap: str,
    images: ImageFolderDataModule,
    batch_size: int,
    device: torch.device,
    frozen: FrozenPass,
    use: StoreUse,
    train: bool = True,
) -> tuple[tuple[torch.Tensor, torch.Tensor] | None, tuple[torch.Tensor, torch.Tensor]]:
    """(inputs, labels) at `tap` of the run's train images (un-augmented; None when `train` is false) and of its
    val images, in their order. A data folder none of whose images is needed is not passed over."""
    images.setup()
    wanted = [images.val_set, *([images.train_set] if train else [])]
    needed = {path for dataset in wanted for path, _ in dataset.samples}
    row: dict[str, torch.Tensor] = {}
    with torch.random.fork_rng(devices=[]):  # the global RNG stays as it was, whatever the pass draws
        for folder in folder_views(images):
            if needed.isdisjoint(path for path, _ in folder.samples):
                continue
            x = frozen_pass(model, tap, folder, images.image_size, batch_size, images.num_workers, device, frozen, use)
            row |= {path: x[k] for k, (path, _) in enumerate(folder.samples)}
        if use.computed and (hint := bf16_hint(model, tap, folder, images.image_size, frozen, use.hint_root)):
            log.info(hint)

    def rows(dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.stack([row[path] for path, _ in dataset.samples]), torch.tensor(dataset.targets)

    return (rows(images.train_set) if train else None), rows(images.val_set)


def explain_inputs(
    module: TransferLearningModule,
    images: ImageFolderDataModule,
    batch_size: int,
    frozen_pass: str | None,
    use: StoreUse,
) -> tuple[Split, Split] | None:
    """The explanation's stage-one inputs (model/explain/features.py) through the store, computed as the run
    computed its cache (`frozen_pass`: its settings.frozen_pass); None where the net has no frozen part."""
    cut = cut_for(module)
    if cut is None:
        return None
    device = next(module.parameters()).device
    frozen = replay(frozen_pass, device.type)
    train, val = plain_inputs(module.model, cut.tap, images, batch_size, device, frozen, use)
    return Split(*train), Split(*val)
