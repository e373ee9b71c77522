"""What the answers claim follows what the runs recorded: weights, steps per epoch, augmentation, epochs shown."""

from __future__ import annotations

import json

from report_fixtures import write_run
from tl_lightning.report import plots
from tl_lightning.report.answers.freeze import answer_freeze
from tl_lightning.report.answers.shuffle import answer_shuffle
from tl_lightning.report.answers.winner import answer_winner
from tl_lightning.report.figures import curves_section, per_run_section
from tl_lightning.report.groups import load_sweep

SHA = "fedcba9876543210" * 4


def pair_sweep(tmp_path, legacy: bool = False, **changes):
    """alexnet and vgg16, extractor and finetune, with the same settings changes."""
    sweep = tmp_path / "sweep"
    num = 0
    for arch, base in (("alexnet", 130), ("vgg16", 140)):
        for strategy, delta in (("extractor", 5), ("finetune", 0)):
            write_run(sweep / f"{num}_run", arch, strategy, (base + delta, base + delta + 1), legacy=legacy, **changes)
            num += 1
    return load_sweep(sweep)


def test_random_weights_never_get_the_imagenet_argument(tmp_path):
    sweep = pair_sweep(tmp_path, weights="none")
    text = "\n".join(answer_freeze(sweep) + answer_winner(sweep))
    assert "trained on these very classes" not in text
    assert "ImageNet features" not in text
    assert "started from random weights (arch.weights=none): the frozen net is a random projection" in text
    assert "its lead can only come from its frozen random features (arch.weights=none)" in text


def test_a_weights_file_is_named_with_its_hash_and_the_argument_is_conditional(tmp_path):
    sweep = pair_sweep(tmp_path, weights="alexnet-imagenet-features.pth", weights_sha256=SHA)
    text = "\n".join(answer_freeze(sweep) + answer_winner(sweep))
    assert "trained on these very classes" not in text
    assert "loaded the weights file `alexnet-imagenet-features.pth` (sha256 fedcba987654)" in text
    assert "which matters only if that file holds ImageNet weights" in text


def test_torchvision_imagenet_weights_keep_the_argument(tmp_path):
    text = "\n".join(answer_freeze(pair_sweep(tmp_path)))
    assert "ImageNet-1k has the classes `ant` (index 310) and `bee` (index 309)" in text
    assert "used torchvision's ImageNet weights, so their frozen features were trained on these very classes" in text


def test_steps_per_epoch_come_from_the_recorded_loader_not_from_the_image_count(tmp_path):
    # Two cached augmented views per image: 122 steps per epoch, not ceil(244 / 4) = 61.
    text = "\n".join(answer_shuffle(pair_sweep(tmp_path, steps_per_epoch=122, augmentation="views-2")))
    assert "the runs recorded 122 optimizer steps per epoch (steps_per_epoch, measured from the train loader)" in text
    assert "61 optimizer steps" not in text


def test_unrecorded_steps_per_epoch_are_said_to_be_unrecorded(tmp_path):
    text = "\n".join(answer_shuffle(pair_sweep(tmp_path, legacy=True)))
    assert "the optimizer steps per epoch of 4 run(s) are not recorded" in text
    assert "optimizer steps per epoch (steps_per_epoch" not in text


def test_a_comparison_across_augmentation_regimes_says_so(tmp_path):
    text = "\n".join(answer_freeze(pair_sweep(tmp_path)))
    assert "the pair crosses augmentation regimes (alexnet/extractor: plain, alexnet/finetune: fresh)" in text
    assert (
        "Caution: the two train accuracies come from different train inputs (alexnet/extractor saw the plain "
        "(un-augmented) view of every train image each epoch, alexnet/finetune saw a fresh random crop and flip"
    ) in text


def capture_figures(monkeypatch) -> tuple[list, list]:
    """Record the figures the report saves and the titles its misclassified grids get."""
    saved, grids = [], []
    real = plots.misclassified_grid

    def grid(rows: list[dict], title: str, limit: int, root):
        grids.append(title)
        return real(rows, title, limit, root)

    monkeypatch.setattr(plots, "save", lambda fig, path: saved.append((fig, path.name)))
    monkeypatch.setattr(plots, "misclassified_grid", grid)
    return saved, grids


def test_figures_show_the_last_epoch_and_say_so(tmp_path, monkeypatch):
    sweep_dir = tmp_path / "sweep"
    write_run(sweep_dir / "0_run", "alexnet", "extractor", (135, 140))  # last epoch 18 wrong, best epoch 13
    saved, grids = capture_figures(monkeypatch)
    text = "\n".join(per_run_section(load_sweep(sweep_dir)))
    assert "Predictions at epoch 3 (last), from val_predictions_last.csv." in text
    assert "| bees | 18 | 65 |" in text
    assert saved[0][0].axes[0].get_title() == "alexnet/extractor seed 0, epoch 3 (last)"
    assert grids == ["alexnet/extractor seed 0, epoch 3 (last)"]


def test_figures_fall_back_to_the_best_epoch_and_say_so(tmp_path, monkeypatch):
    sweep_dir = tmp_path / "sweep"
    write_run(sweep_dir / "0_run", "alexnet", "extractor", (135, 140), legacy=True)
    saved, grids = capture_figures(monkeypatch)
    text = "\n".join(per_run_section(load_sweep(sweep_dir)))
    assert "Predictions at best epoch 2, from val_predictions.csv." in text
    assert "| bees | 13 | 70 |" in text
    assert saved[0][0].axes[0].get_title() == "alexnet/extractor seed 0, best epoch 2"
    assert grids == ["alexnet/extractor seed 0, best epoch 2"]


def test_loss_curve_caption_names_cells_whose_optimised_loss_had_the_aux_term(tmp_path, monkeypatch):
    sweep_dir = tmp_path / "sweep"
    write_run(sweep_dir / "0_run", "inception_v3", "finetune", (130, 131))
    write_run(sweep_dir / "1_run", "inception_v3", "extractor", (140, 141))
    metrics_file = sweep_dir / "0_run" / "metrics.json"
    metrics = json.loads(metrics_file.read_text())
    metrics |= {"train_aux_loss": [0.7, 0.5, 0.4], "train_total_loss": [0.88, 0.6, 0.46]}
    metrics_file.write_text(json.dumps(metrics))
    monkeypatch.setattr(plots, "save", lambda fig, path: None)
    text = "\n".join(curves_section(load_sweep(sweep_dir)))
    assert "both the main output's cross-entropy" in text
    assert "The loss optimised by inception_v3/finetune also had the auxiliary head's term" in text
    assert "inception_v3/extractor also had" not in text
