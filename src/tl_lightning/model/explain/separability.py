"""How well features separate the classes, measured: k-NN and linear-probe val accuracy, silhouette, a 2-D map.

Deterministic (fixed solvers, no random state except t-SNE's, seeded), so a rerun and the explain tool give
the same numbers for the same features. Each measure that cannot be computed says why instead of a number.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

K_NEIGHBOURS = 5
PROBE_C = 1.0  # L2 strength of the probe (scikit-learn's default), on standardised features
DIGITS = 6  # silhouette is a mean of distances: rounded so that BLAS summation order cannot show


class NotMeasurable(ValueError):
    """The features or labels do not allow this measure; the message says why."""


def check_features(name: str, x: torch.Tensor) -> None:
    bad = int((~torch.isfinite(x)).any(dim=1).sum()) if x.numel() else 0
    if bad:
        raise NotMeasurable(f"the {name} features hold NaN or inf for {bad} of {len(x)} images")


def separability(train: torch.Tensor, train_y: torch.Tensor, val: torch.Tensor, val_y: torch.Tensor) -> dict:
    """knn_acc, probe_acc (fitted on train, scored on val) and silhouette (of the val features by class);
    a measure that cannot be taken is None, with the reason under `why_none`."""
    xt, yt, xv, yv = (t.double().numpy() for t in (train, train_y, val, val_y))
    out: dict = {}
    why: dict[str, str] = {}
    for key, measure in (("knn_acc", _knn), ("probe_acc", _probe), ("silhouette", _silhouette)):
        try:
            out[key] = measure(xt, yt.astype(int), xv, yv.astype(int))
        except NotMeasurable as err:
            out[key], why[key] = None, str(err)
    return out | ({"why_none": why} if why else {})


def _standardise(xt: np.ndarray, xv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = xt.mean(axis=0), xt.std(axis=0)
    std[std == 0] = 1.0  # constant features (dead ReLUs) carry no information; leave them at 0
    return (xt - mean) / std, (xv - mean) / std


def _knn(xt: np.ndarray, yt: np.ndarray, xv: np.ndarray, yv: np.ndarray) -> float:
    if len(xt) == 0 or len(xv) == 0:
        raise NotMeasurable("the train or val set is empty")
    from sklearn.neighbors import KNeighborsClassifier  # scikit-learn loads only where a run explains itself

    knn = KNeighborsClassifier(n_neighbors=min(K_NEIGHBOURS, len(xt)), metric="cosine", algorithm="brute")
    return float((knn.fit(xt, yt).predict(xv) == yv).mean())


def _probe(xt: np.ndarray, yt: np.ndarray, xv: np.ndarray, yv: np.ndarray) -> float:
    if len(np.unique(yt)) < 2:
        raise NotMeasurable("the train features hold one class, so there is nothing to separate")
    if len(xv) == 0:
        raise NotMeasurable("the val set is empty")
    st, sv = _standardise(xt, xv)
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        probe = LogisticRegression(C=PROBE_C, max_iter=1000).fit(st, yt)
    return float((probe.predict(sv) == yv).mean())


def _silhouette(xt: np.ndarray, yt: np.ndarray, xv: np.ndarray, yv: np.ndarray) -> float:
    classes = len(np.unique(yv))
    if classes < 2 or len(xv) <= classes:
        raise NotMeasurable(f"the val set has {len(xv)} images of {classes} class(es); silhouette needs 2 classes")
    from sklearn.metrics import silhouette_score

    return round(float(silhouette_score(xv, yv, metric="cosine")), DIGITS)


def project(x: torch.Tensor, method: str, seed: int) -> np.ndarray:
    """2-D coordinates of the rows of `x`: PCA (exact SVD) or t-SNE (seeded)."""
    if len(x) < 2:
        raise NotMeasurable(f"{len(x)} val image(s) cannot be projected to 2-D")
    if method == "pca":
        return _pca(x.double())
    data = x.double().numpy()
    if method == "tsne":
        perplexity = float(min(30, len(data) - 1))
        from sklearn.manifold import TSNE

        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(data)
    raise ValueError(f"explain.projection={method!r} is unknown: use pca or tsne.")


def _pca(x: torch.Tensor) -> np.ndarray:
    """The first two principal components' scores, from the eigenvectors of the n x n Gram matrix: the same
    numbers as an SVD of the centred n x d features, at a fraction of its cost when d (9216, 25088) >> n (153).
    Each axis's sign is fixed (its largest score positive), so the picture is the same on every rerun."""
    centred = x - x.mean(dim=0)
    values, vectors = torch.linalg.eigh(centred @ centred.T)
    top = vectors[:, [-1, -2]] * values[[-1, -2]].clamp(min=0).sqrt()
    sign = torch.sign(top.gather(0, top.abs().argmax(dim=0, keepdim=True)))
    sign[sign == 0] = 1
    return (top * sign).numpy()
