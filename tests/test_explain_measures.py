"""Issue 19: the separability numbers are measured from the features, deterministic, and honest about limits."""

from __future__ import annotations

import torch

from tl_lightning.model.explain.saliency import fixed_images
from tl_lightning.model.explain.separability import NotMeasurable, check_features, project, separability


def _blobs(n: int, dim: int = 20, shift: float = 3.0, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.randn(n, dim, generator=g)
    x[:, 0] += shift * (2 * y - 1)  # linearly separable along one axis, noise on the others
    return x, y


def test_separable_features_give_a_probe_accuracy_near_one():
    (xt, yt), (xv, yv) = _blobs(200, seed=0), _blobs(200, seed=1)
    numbers = separability(xt, yt, xv, yv)
    assert numbers["probe_acc"] >= 0.97 and numbers["knn_acc"] >= 0.9
    assert numbers["silhouette"] > 0.05


def test_shuffled_train_labels_give_chance_accuracy():
    (xt, yt), (xv, yv) = _blobs(200, seed=0), _blobs(200, seed=1)
    shuffled = yt[torch.randperm(len(yt), generator=torch.Generator().manual_seed(3))]
    numbers = separability(xt, shuffled, xv, yv)
    assert 0.35 <= numbers["probe_acc"] <= 0.65 and 0.35 <= numbers["knn_acc"] <= 0.65


def test_the_numbers_are_bit_identical_on_a_rerun():
    (xt, yt), (xv, yv) = _blobs(60, seed=0), _blobs(40, seed=1)
    assert separability(xt, yt, xv, yv) == separability(xt.clone(), yt.clone(), xv.clone(), yv.clone())
    assert (project(xv, "pca", 0) == project(xv.clone(), "pca", 0)).all()
    assert (project(xv, "tsne", 0) == project(xv.clone(), "tsne", 0)).all()


def test_a_single_class_val_set_has_no_silhouette_and_says_why():
    (xt, yt), (xv, _) = _blobs(40, seed=0), _blobs(6, seed=1)
    numbers = separability(xt, yt, xv, torch.zeros(6, dtype=torch.long))
    assert numbers["silhouette"] is None and "1 class" in numbers["why_none"]["silhouette"]
    assert numbers["probe_acc"] is not None


def test_one_val_image_cannot_be_projected_and_says_why():
    try:
        project(torch.ones(1, 5), "pca", 0)
    except NotMeasurable as err:
        assert "1 val image" in str(err)
    else:
        raise AssertionError("one image was projected")


def test_nan_features_are_named():
    x = torch.ones(4, 3)
    x[2, 1] = float("nan")
    try:
        check_features("after-training", x)
    except NotMeasurable as err:
        assert "NaN or inf for 1 of 4 images" in str(err)
    else:
        raise AssertionError("NaN features passed")


def test_saliency_images_are_the_first_of_each_class_then_the_runs_mistakes():
    targets = [0, 0, 0, 0, 1, 1, 1, 1]
    preds = [0, 1, 0, 0, 1, 1, 0, 0]
    assert fixed_images(targets, preds, per_class=2, mistakes=2) == [0, 1, 4, 5, 6, 7]
    assert fixed_images(targets, preds, per_class=1, mistakes=1) == [0, 4, 1]
