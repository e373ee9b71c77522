"""TensorBoard at a glance (train and val on one chart, epochs as steps, a short HParams table) and a
predictions grid that shows the run's mistakes under a title, without overlapping text."""

from __future__ import annotations

from pathlib import Path

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.hparams import plugin_data_pb2

from tl_lightning.run.observe import tensorboard
from tl_lightning.run.outputs import artifacts
from tl_lightning.run.train import train

RUN_SETTINGS = {"arch", "strategy", "unfreeze", "init_weights", "input", "user_tags"}


def events(run_dir: Path) -> list[EventAccumulator]:
    found = []
    for path in sorted(run_dir.glob("events.out.tfevents*")):
        acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "tensors": 0})
        acc.Reload()
        found.append(acc)
    return found


def test_tensorboard_charts_each_split_per_epoch_with_a_short_hparams_table(make_cfg):
    cfg = make_cfg("alexnet", "extractor", "trainer.max_epochs=2", "tags=[baseline,offline]")
    metrics = train(cfg)
    assert metrics["tags"] == ["baseline", "offline"]
    accs = events(Path(cfg.paths.output_dir))
    scalars = {tag: acc.Scalars(tag) for acc in accs for tag in acc.Tags()["scalars"]}
    for tag in ("train/loss", "val/loss", "train/acc", "val/acc", "lr-Adam"):
        assert [e.step for e in scalars[tag]] == [1, 2], tag  # epochs, counted from 1: the lr too
    assert [e.value for e in scalars["val/acc"]] == [float(torch.tensor(v)) for v in metrics["val_acc"]]

    tag = "custom_scalars__config__"
    layouts = [
        layout_pb2.Layout.FromString(e.tensor_proto.string_val[0])
        for acc in accs
        if tag in acc.Tags()["tensors"]
        for e in acc.Tensors(tag)
    ]
    charts = {c.title: list(c.multiline.tag) for layout in layouts for cat in layout.category for c in cat.chart}
    # Custom scalars colour by run only: a chart per split, named by it, keeps train and val apart.
    assert charts["train loss"] == ["^train/loss$"] and charts["val loss"] == ["^val/loss$"]
    assert charts["train accuracy"] == ["^train/acc$"] and charts["val accuracy"] == ["^val/acc$"]
    assert charts["learning rate per epoch"] == ["^lr-"]

    hparams = [
        plugin_data_pb2.HParamsPluginData.FromString(c) for acc in accs for c in _plugin_contents(acc, "hparams")
    ]
    session = next(h.session_start_info for h in hparams if h.HasField("session_start_info"))
    # TensorBoard ticks the first five setting columns and the first five metric columns (sorted by name):
    # five settings, and lr, seed, batch size as metric columns that sort before the accuracies.
    assert set(session.hparams) == RUN_SETTINGS and sorted(RUN_SETTINGS)[-1] == "user_tags"  # 5, then tags
    assert session.hparams["strategy"].string_value == "extractor"
    assert session.hparams["user_tags"].string_value == "baseline,offline"
    assert session.hparams["input"].string_value == "64 px, plain"
    assert not any(h.HasField("experiment") for h in hparams)  # TensorBoard builds it: differing columns first
    assert [e.value for e in scalars["hparams/val_acc_last"]] == [float(torch.tensor(metrics["val_acc_last"]))]
    columns = sorted(tag for tag in scalars if tag.startswith("hparams/"))
    assert columns[:5] == [f"hparams/{k}" for k in ("batch_size", "lr", "seed", "val_acc_best", "val_acc_last")]
    assert [e.value for e in scalars["hparams/lr"]] == [float(torch.tensor(1e-4))]
    assert "hparams/val_loss_final" in scalars


def test_hparams_name_a_weights_folder_and_the_file_in_it_the_same(make_cfg, tmp_path):
    recorded = {"weights": "alexnet-owt-7be5be79.pth", "weights_sha256": "7be5be79" + "0" * 56, "augmentation": "plain"}
    metrics = {"unfreeze": 0, "settings": recorded}
    folder = make_cfg("alexnet", "extractor", f"arch.weights={tmp_path}")
    file = make_cfg("alexnet", "extractor", f"arch.weights={tmp_path / 'alexnet-owt-7be5be79.pth'}")
    by_folder, by_file = tensorboard.run_hparams(folder, metrics), tensorboard.run_hparams(file, metrics)
    assert by_folder["init_weights"] == by_file["init_weights"] == "alexnet-owt-7be5be79.pth (sha256 7be5be790000)"


def _plugin_contents(acc: EventAccumulator, plugin: str) -> list[bytes]:
    try:
        return list(acc.PluginTagToContent(plugin).values())
    except KeyError:
        return []


def test_the_grid_shows_mistakes_first_then_correct_ones():
    targets = [0] * 10 + [1] * 10
    preds = list(targets)
    for wrong in (3, 15, 17):
        preds[wrong] = 1 - targets[wrong]
    shown = artifacts.grid_sample(preds, targets, 8)
    assert shown[:3] == [3, 15, 17] and len(shown) == 8 and len(set(shown)) == 8
    assert all(preds[i] == targets[i] for i in shown[3:])
    assert {targets[i] for i in shown[3:]} == {0, 1}  # correct ones spread over both classes
    many_wrong = [1 - t for t in targets]
    assert len(artifacts.grid_sample(many_wrong, targets, 8)) == 8


def test_the_grid_has_a_title_and_no_title_overlaps_the_row_above():
    title = artifacts.grid_title("vgg16/mixed k=3 s0", 4, 12, 153)
    assert (
        title
        == "vgg16/mixed k=3 s0: val predictions at epoch 4 (best checkpoint); 12 of 153 wrong, mistakes shown first"
    )
    fig = artifacts.prediction_grid(
        torch.rand(8, 3, 32, 32), [0, 1] * 4, [1, 1] * 4, [0.9] * 8, ["ants", "bees"], title=title
    )
    canvas = FigureCanvasAgg(fig)  # a Figure() made without pyplot has no renderer of its own
    canvas.draw()
    renderer = canvas.get_renderer()
    assert " ".join(fig.get_suptitle().split()) == title  # wrapped over lines
    axes = fig.axes
    for upper, lower in zip(axes[:4], axes[4:], strict=True):
        image_box = upper.get_window_extent(renderer)
        title_box = lower.title.get_window_extent(renderer)
        assert title_box.y1 <= image_box.y0, "a second-row title overlaps the first row's image"
    assert fig._suptitle.get_window_extent(renderer).y0 >= max(a.title.get_window_extent(renderer).y1 for a in axes[:4])
