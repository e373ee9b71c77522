"""The feature store (features/): shared frozen passes that are exact, keyed by all that makes them, and safe."""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
import torchvision
from omegaconf import OmegaConf, open_dict

from conftest import write_image_folder
from tl_lightning.data import ImageFolderDataModule
from tl_lightning.features import bf16_hint as hint
from tl_lightning.features import keys, passes
from tl_lightning.features.passes import StoreUse, folder_views, frozen_pass, open_store
from tl_lightning.features.store import MAGIC, FeatureStore
from tl_lightning.model.frozen_pass import FrozenPass
from tl_lightning.run.train import train
from tl_lightning.tools.cache import main as cache_main
from tl_lightning.tools.evaluate import main as evaluate_main

VOLATILE = ("wall_s", "best_checkpoint", "overrides", "feature_store")
FP32 = FrozenPass("fp32", "cpu")
CPU = torch.device("cpu")
REPO = Path(__file__).resolve().parents[1]
RUNS = itertools.count()


@pytest.fixture
def store_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store of the test's own, so counts of read and computed activations are this test's."""
    monkeypatch.setenv("TL_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "features"


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fixed conv weights (as the shared ImageNet files hold): the frozen part is then the same for every seed."""
    torch.manual_seed(123)
    state = {k: v for k, v in torchvision.models.alexnet().state_dict().items() if k.startswith("features.")}
    path = tmp_path_factory.mktemp("weights") / "alexnet-test.pth"
    torch.save(state, path)
    return path


def stable(metrics: dict) -> dict:
    return {k: v for k, v in json.loads(json.dumps(metrics)).items() if k not in VOLATILE}


def run(make_cfg, strategy: str, *extra: str) -> tuple[dict, bytes]:
    cfg = make_cfg("alexnet", strategy, "trainer.max_epochs=2", "data.batch_size=3", *extra)
    with open_dict(cfg):  # a folder per run: a run folder holds one experiment
        cfg.paths.output_dir = str(Path(cfg.paths.output_dir).with_name(f"run-{next(RUNS)}"))
    metrics = train(cfg)
    return metrics, (Path(cfg.paths.output_dir) / "val_predictions_last.csv").read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["extractor", "mixed"])
def test_reading_the_store_gives_what_computing_everything_gives(make_cfg, store_dir, weights_file, strategy):
    weights = f"arch.weights={weights_file}"
    alone = run(make_cfg, strategy, weights, "cache.features=false")
    cold = run(make_cfg, strategy, weights)
    warm = run(make_cfg, strategy, weights)
    assert alone[0]["feature_store"]["off"] == "cache.features=false"
    assert (cold[0]["feature_store"]["read"], cold[0]["feature_store"]["computed"]) == (0, 20)
    assert (warm[0]["feature_store"]["read"], warm[0]["feature_store"]["computed"]) == (20, 0)
    for metrics, predictions in (cold, warm):
        assert predictions == alone[1]
        assert stable(metrics) == stable(alone[0])
    # Another seed trains another head on the same frozen activations: all read, and still exact.
    other = run(make_cfg, strategy, weights, "seed=1")
    assert (other[0]["feature_store"]["read"], other[0]["feature_store"]["computed"]) == (20, 0)
    assert other[1] == run(make_cfg, strategy, weights, "seed=1", "cache.features=false")[1]


def test_folds_and_split_seeds_read_the_pass_of_the_first(make_cfg, store_dir, weights_file):
    weights = f"arch.weights={weights_file}"
    first = run(make_cfg, "extractor", weights, "data.folds=2", "data.fold=0", "data.split_seed=0")
    later = run(make_cfg, "extractor", weights, "data.folds=2", "data.fold=1", "data.split_seed=3")
    alone = run(
        make_cfg, "extractor", weights, "data.folds=2", "data.fold=1", "data.split_seed=3", "cache.features=false"
    )
    assert first[0]["feature_store"]["computed"] == 20
    assert (later[0]["feature_store"]["read"], later[0]["feature_store"]["computed"]) == (20, 0)
    assert later[1] == alone[1] and stable(later[0]) == stable(alone[0])


def test_augmented_views_are_not_stored_and_say_so(make_cfg, store_dir, weights_file, caplog):
    with caplog.at_level(logging.INFO):
        metrics, _ = run(make_cfg, "extractor", f"arch.weights={weights_file}", "strategy.cache_views=2")
    assert metrics["feature_store"]["computed"] == 8  # the val folder only: the train views are the run's own
    assert "augmented train views are computed by this run, not stored" in caplog.text


# --- the keys: what changes an activation changes the key, what does not leaves it -------------------------


@pytest.fixture
def folder(tiny_data: Path) -> tuple[ImageFolderDataModule, passes.FolderView]:
    images = ImageFolderDataModule(tiny_data, 64, num_workers=0)
    images.setup()
    return images, folder_views(images)[0]


def model() -> torch.nn.Module:
    torch.manual_seed(0)
    net = torchvision.models.alexnet(num_classes=2).eval()
    return net


def pass_over(net, view, use, size=64, batch=5, frozen=FP32, tap="classifier") -> torch.Tensor:
    return frozen_pass(net, tap, view, size, batch, 0, CPU, frozen, use)


def test_a_stored_activation_is_read_only_where_nothing_that_changes_it_differs(folder, tmp_path, monkeypatch):
    images, view = folder
    use = StoreUse(FeatureStore(tmp_path / "store", 2**30))
    net = model()
    reference = pass_over(net, view, use)
    assert (use.read, use.computed) == (0, 12)

    def again(net=net, view=view, **kw) -> tuple[int, int, torch.Tensor]:
        fresh = StoreUse(use.store)
        x = pass_over(net, view, fresh, **kw)
        return fresh.read, fresh.computed, x

    # Not in the key, and no change to the numbers: the head after the cut, and nothing at all.
    net.classifier[1].weight.data += 1
    read, computed, x = again()
    assert (read, computed) == (12, 0) and torch.equal(x, reference)
    alone = pass_over(net, view, StoreUse(None))
    assert torch.equal(alone, reference)
    # In the key, each changing the activation: a weight before the cut, the view's size, the batch, the mode.
    changed = model()
    changed.features[0].weight.data[0, 0, 0, 0] += 0.5
    _, computed, x = again(net=changed)
    assert computed == 12 and not torch.equal(x, reference)
    larger = ImageFolderDataModule(images.root, 72, num_workers=0)
    _, computed, x = again(view=folder_views(larger)[0], size=72)
    assert computed == 12 and not torch.equal(x, reference)
    _, computed, _ = again(batch=4)
    assert computed == 12
    _, computed, _ = again(frozen=FrozenPass("fp32+channels_last", "cpu", channels_last=True))
    assert computed == 12
    threads = torch.get_num_threads()
    torch.set_num_threads(threads + 1)
    try:
        assert again()[1] == 12  # measured: the thread count moves the last bits of some nets
    finally:
        torch.set_num_threads(threads)


def test_an_image_whose_bytes_change_is_computed_again_with_its_batch_only(tmp_path):
    data = write_image_folder(tmp_path / "data", {"train": 6, "val": 2})
    images = ImageFolderDataModule(data, 64, num_workers=0)
    images.setup()
    use = StoreUse(FeatureStore(tmp_path / "store", 2**30))
    first = pass_over(model(), folder_views(images)[0], use)
    path = Path(images.folder_samples[0][-1][0])  # in the last batch (12 images, batches of 5)
    write_image_folder(tmp_path / "other", {"train": 6, "val": 2}, seed=9)
    path.write_bytes((tmp_path / "other" / path.relative_to(data)).read_bytes())
    images = ImageFolderDataModule(data, 64, num_workers=0)
    images.setup()
    second = StoreUse(use.store)
    x = pass_over(model(), folder_views(images)[0], second)
    assert (second.read, second.computed) == (10, 2)
    assert torch.equal(x[:10], first[:10]) and not torch.equal(x[10:], first[10:])


# --- safety ------------------------------------------------------------------------------------------------


def entries(root: Path) -> list[Path]:
    return sorted(root.glob("??/*.f32"))


@pytest.mark.parametrize("damage", ["truncate", "edit", "foreign", "link", "folder"])
def test_a_damaged_entry_is_named_once_and_computed_again(folder, tmp_path, caplog, damage):
    _, view = folder
    store = FeatureStore(tmp_path / "store", 2**30)
    reference = pass_over(model(), view, StoreUse(store))
    first, second = entries(store.root)[:2]
    outside = tmp_path / "outside.txt"
    outside.write_text("not the store's")
    if damage == "truncate":
        first.write_bytes(first.read_bytes()[:-7])
    elif damage == "edit":
        data = bytearray(first.read_bytes())
        data[-1] ^= 1
        first.write_bytes(bytes(data))
    elif damage == "foreign":
        first.write_bytes(second.read_bytes())
    elif damage == "link":
        first.unlink()
        first.symlink_to(outside)
    else:
        first.unlink()
        first.mkdir()
    use = StoreUse(store)
    with caplog.at_level(logging.WARNING):
        x = pass_over(model(), view, use)
    assert torch.equal(x, reference) and use.computed > 0
    assert caplog.text.count(str(first)) == 1
    assert outside.read_text() == "not the store's"  # a planted link's target is never written


def test_eviction_keeps_the_store_bounded_and_removes_only_its_own_entries(folder, tmp_path):
    _, view = folder
    store = FeatureStore(tmp_path / "store", 2**30)
    pass_over(model(), view, StoreUse(store))
    size = store.usage()[1]
    stranger = store.root / "ab" / "notes.f32"
    stranger.parent.mkdir(parents=True, exist_ok=True)
    stranger.write_text("a file the store did not write")
    old = entries(store.root)
    bounded = FeatureStore(store.root, size)  # room for one pass: another pass pushes the older one out
    other = model()
    other.features[0].bias.data += 1
    pass_over(other, view, StoreUse(bounded))
    assert all(not p.exists() for p in old if p != stranger)
    assert stranger.read_text() == "a file the store did not write"
    assert bounded.usage()[1] <= size + stranger.stat().st_size


@pytest.mark.slow
def test_two_jobs_that_need_one_pass_compute_it_once(tiny_data, tmp_path):
    script = textwrap.dedent(f"""
        import sys, time, torch, torchvision
        from tl_lightning.data import ImageFolderDataModule
        from tl_lightning.features import passes
        from tl_lightning.features.store import FeatureStore
        from tl_lightning.model.frozen_pass import FrozenPass
        real = passes.capture_inputs
        def slow(*args, **kwargs):  # holds the pass long enough for the other job to arrive
            time.sleep(3)
            return real(*args, **kwargs)
        passes.capture_inputs = slow
        torch.manual_seed(0)
        net = torchvision.models.alexnet(num_classes=2).eval()
        images = ImageFolderDataModule({str(tiny_data)!r}, 64, num_workers=0)
        use = passes.StoreUse(FeatureStore({str(tmp_path / "store")!r}, 2**30))
        x = passes.frozen_pass(net, "classifier", passes.folder_views(images)[0], 64, 5, 0, torch.device("cpu"),
                               FrozenPass("fp32", "cpu"), use)
        torch.save(x, sys.argv[1])
        print(use.read, use.computed)
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    jobs = []
    for name in ("a", "b"):
        jobs.append(subprocess.Popen([sys.executable, "-c", script, str(tmp_path / name)], env=env, text=True,
                                     stdout=subprocess.PIPE))  # fmt: skip
    counts = sorted(tuple(map(int, job.communicate(timeout=300)[0].split())) for job in jobs)
    assert counts == [(0, 12), (12, 0)]
    assert torch.equal(torch.load(tmp_path / "a"), torch.load(tmp_path / "b"))


def test_the_store_is_never_inside_the_data_or_a_run_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TL_CACHE_DIR", str(tmp_path / "data" / "cache"))
    assert "inside data.root" in open_store({}, tmp_path / "data", tmp_path / "run").off
    monkeypatch.setenv("TL_CACHE_DIR", str(tmp_path / "run" / "x"))
    assert "inside the run folder" in open_store({}, tmp_path / "data", tmp_path / "run").off
    monkeypatch.setenv("TL_CACHE_DIR", str(tmp_path / "cache"))
    assert open_store({"max_gb": 1}, tmp_path / "data", tmp_path / "run").store.max_bytes == 2**30
    assert open_store({"features": False}, tmp_path / "data", None).off == "cache.features=false"


def test_the_cache_tool_shows_and_clears_only_entries(folder, store_dir, capsys):
    _, view = folder
    pass_over(model(), view, StoreUse(FeatureStore(store_dir, 2**30)))
    keep = store_dir / "README.txt"
    keep.write_text("mine")
    assert cache_main([]) == 0
    assert f"Feature store: {store_dir}" in capsys.readouterr().out
    assert cache_main(["clear=true"]) == 0
    assert "Removed 3 entries" in capsys.readouterr().out
    assert entries(store_dir) == [] and keep.read_text() == "mine"
    assert cache_main(["clear=maybe"]) == 2


def test_entries_start_with_the_store_header(folder, tmp_path):
    _, view = folder
    store = FeatureStore(tmp_path / "store", 2**30)
    pass_over(model(), view, StoreUse(store))
    assert all(p.read_bytes().startswith(MAGIC) for p in entries(store.root))


def test_a_cpu_with_native_bf16_is_told_the_speed_up_measured_here_once(folder, tmp_path, monkeypatch):
    _, view = folder
    monkeypatch.setattr(hint, "native_bf16", lambda: True)
    line = hint.bf16_hint(model(), "classifier", view, 64, FP32, tmp_path)
    assert re.search(r"trainer.frozen_pass=bf16\+channels_last ran this frozen pass \d+\.\dx as fast as fp32", line)

    def measured(*args: object) -> float:
        raise AssertionError("measured again")

    monkeypatch.setattr(hint, "_seconds", measured)  # the first measurement is kept beside the store
    assert hint.bf16_hint(model(), "classifier", view, 64, FP32, tmp_path) == line
    assert hint.bf16_hint(model(), "classifier", view, 64, hint.BF16, tmp_path) is None  # bf16 already
    monkeypatch.setattr(hint, "native_bf16", lambda: False)
    assert hint.bf16_hint(model(), "classifier", view, 64, FP32, tmp_path) is None


def test_batchnorm_statistics_before_the_cut_are_part_of_the_key():
    torch.manual_seed(0)
    net = torchvision.models.mobilenet_v2(num_classes=2).eval()  # BatchNorm: 0-d num_batches_tracked buffers
    before = keys.network(net, "classifier", 64, FP32)
    net.features[1].conv[0][1].running_mean += 0.1
    assert keys.network(net, "classifier", 64, FP32) != before


def test_evaluate_reads_its_runs_frozen_pass_and_gives_the_runs_numbers(make_cfg, store_dir, weights_file, capsys):
    cfg = make_cfg("alexnet", "mixed", "trainer.max_epochs=2", "data.batch_size=3", f"arch.weights={weights_file}")
    train(cfg)
    out = Path(cfg.paths.output_dir)
    (out / ".hydra").mkdir()
    OmegaConf.save(cfg, out / ".hydra" / "config.yaml")  # as Hydra leaves it beside every run
    ckpt, table = out / "checkpoints" / "last.ckpt", out.parent / "evaluated.csv"
    assert evaluate_main([f"ckpt={ckpt}", f"data={cfg.data.root}/val", f"out={table}"]) == 0
    err = capsys.readouterr().err
    assert "Frozen pass: 8 activations read, 0 computed" in err, err[-600:]
    assert table.read_bytes() == (out / "val_predictions_last.csv").read_bytes()
    # A folder the run never saw is computed once, stored, and then read.
    other = out.parent / "other"
    shutil.copytree(Path(cfg.data.root) / "val", other)
    (other / "ants" / "ants_0.jpg").unlink()
    for expected in ("0 activations read, 7 computed", "7 activations read, 0 computed"):
        assert evaluate_main([f"ckpt={ckpt}", f"data={other}"]) == 0
        assert expected in capsys.readouterr().err


def test_temp_files_of_a_killed_writer_go_after_a_day_and_nothing_else(folder, tmp_path):
    _, view = folder
    store = FeatureStore(tmp_path / "store", 2**30)
    pass_over(model(), view, StoreUse(store))
    entry = entries(store.root)[0]
    day_old = time.time() - 25 * 3600
    stale, empty, live, foreign = (entry.parent / f".{entry.name}.{tag}.tmp" for tag in ("a1", "b2", "c3", "d4"))
    stale.write_bytes(MAGIC + b'{"key": "half wri')
    empty.write_bytes(b"")
    live.write_bytes(MAGIC)  # a writer that is still at work
    foreign.write_text("not the store's")
    for path in (stale, empty, foreign):
        os.utime(path, (day_old, day_old))
    store.clear()
    assert not stale.exists() and not empty.exists()
    assert live.exists() and foreign.read_text() == "not the store's"
