"""TensorBoard at a glance (train and val on one chart, epochs as steps, a short HParams table) and a
predictions grid that shows the run's mistakes under a title, without overlapping text."""

from __future__ import annotations

from pathlib import Path

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.hparams import plugin_data_pb2

from tl_lightning.run import artifacts
from tl_lightning.run.train import train

RUN_SETTINGS = {"run", "arch", "strategy", "unfreeze", "weights", "lr", "batch_size", "epochs", "seed"}
RUN_SETTINGS |= {"image_size", "augmentation"}


def events(run_dir: Path) -> list[EventAccumulator]:
    found = []
    for path in sorted(run_dir.glob("events.out.tfevents*")):
        acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "tensors": 0})
        acc.Reload()
        found.append(acc)
    return found


def test_tensorboard_charts_train_and_val_together_per_epoch_with_a_short_hparams_table(make_cfg):
    cfg = make_cfg("alexnet", "extractor", "trainer.max_epochs=2")
    metrics = train(cfg)
    accs = events(Path(cfg.paths.output_dir))
    scalars = {tag: acc.Scalars(tag) for acc in accs for tag in acc.Tags()["scalars"]}
    for tag in ("train/loss", "val/loss", "train/acc", "val/acc"):
        assert [e.step for e in scalars[tag]] == [1, 2], tag  # epochs, counted from 1
    assert [e.value for e in scalars["val/acc"]] == [float(torch.tensor(v)) for v in metrics["val_acc"]]

    tag = "custom_scalars__config__"
    layouts = [
        layout_pb2.Layout.FromString(e.tensor_proto.string_val[0])
        for acc in accs
        if tag in acc.Tags()["tensors"]
        for e in acc.Tensors(tag)
    ]
    charts = {c.title: list(c.multiline.tag) for layout in layouts for cat in layout.category for c in cat.chart}
    assert charts["loss"] == ["^train/loss$", "^val/loss$"] and charts["accuracy"] == ["^train/acc$", "^val/acc$"]

    hparams = [
        plugin_data_pb2.HParamsPluginData.FromString(c) for acc in accs for c in _plugin_contents(acc, "hparams")
    ]
    session = next(h.session_start_info for h in hparams if h.HasField("session_start_info"))
    assert set(session.hparams) == RUN_SETTINGS
    assert session.hparams["strategy"].string_value == "extractor"
    assert not any(h.HasField("experiment") for h in hparams)  # TensorBoard builds it: differing columns first
    assert [e.value for e in scalars["hparams/val_acc_last"]] == [float(torch.tensor(metrics["val_acc_last"]))]
    assert "hparams/val_acc_best" in scalars and "hparams/val_loss_final" in scalars


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
    assert fig.get_suptitle() == title
    axes = fig.axes
    for upper, lower in zip(axes[:4], axes[4:], strict=True):
        image_box = upper.get_window_extent(renderer)
        title_box = lower.title.get_window_extent(renderer)
        assert title_box.y1 <= image_box.y0, "a second-row title overlaps the first row's image"
    assert fig._suptitle.get_window_extent(renderer).y0 >= max(a.title.get_window_extent(renderer).y1 for a in axes[:4])
