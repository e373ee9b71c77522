"""Paired tests on per-image correctness: every cell is scored on the same val images, so compare image by image.

- One seed per cell: the exact McNemar test (two-sided binomial test on the discordant images).
- Several seeds: a paired bootstrap over images and seeds (see `paired_bootstrap`).
- Holm's step-down correction over all the comparisons one report makes.
"""

from __future__ import annotations

import math

import numpy as np

ALPHA = 0.05
RESAMPLES = 10_000
BOOTSTRAP_SEED = 0  # every comparison draws from its own generator seeded with this: the report is reproducible

MCNEMAR = "exact McNemar"
BOOTSTRAP = f"paired bootstrap ({RESAMPLES:,} resamples)"


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p: under H0 each discordant image is equally likely to favour either model.

    a_only: images A classified right and B wrong; b_only: the reverse. Images both got right or both
    wrong carry no information about the difference.
    """
    n = a_only + b_only
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(a_only, b_only) + 1))
    return min(1.0, 2 * tail / 2**n)


def paired_bootstrap(
    a: list[tuple[int | None, list[bool]]],
    b: list[tuple[int | None, list[bool]]],
    resamples: int = RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> float:
    """Two-sided p for mean accuracy(A) − mean accuracy(B) = 0; `a`, `b` are (seed, correct per image) per run.

    Resampling unit: the val image (drawn with replacement, one index set shared by both cells, which keeps
    the pairing of images) and the seed (drawn with replacement; a seed value present once in both cells is
    drawn for both together, seeds only one cell has are drawn within that cell). The p value is the share of
    resampled differences at least as far from the observed one as the observed one is from 0 (the bootstrap
    distribution shifted to H0), with the +1 correction so that it is never 0.
    """
    rows_a = np.array([c for _, c in a], dtype=bool)
    rows_b = np.array([c for _, c in b], dtype=bool)
    observed = rows_a.mean() - rows_b.mean()
    rng = np.random.default_rng(seed)
    images = rng.integers(0, rows_a.shape[1], size=(resamples, rows_a.shape[1]))
    acc_a = rows_a[:, images].mean(axis=2).T  # (resamples, seeds of A)
    acc_b = rows_b[:, images].mean(axis=2).T
    pick_a, pick_b = _seed_picks(rng, [s for s, _ in a], [s for s, _ in b], resamples)
    rows = np.arange(resamples)[:, None]
    deltas = acc_a[rows, pick_a].mean(axis=1) - acc_b[rows, pick_b].mean(axis=1)
    extreme = int(np.sum(np.abs(deltas - observed) >= abs(observed) - 1e-12))
    return (1 + extreme) / (1 + resamples)


def _seed_picks(
    rng: np.random.Generator, seeds_a: list, seeds_b: list, resamples: int
) -> tuple[np.ndarray, np.ndarray]:
    """Column indices of the seeds drawn per resample, for A and for B (shared draws for shared seeds)."""
    shared = [s for s in seeds_a if s is not None and seeds_a.count(s) == 1 and seeds_b.count(s) == 1]
    common = rng.integers(0, len(shared), size=(resamples, len(shared))) if shared else None
    picks = []
    for seeds in (seeds_a, seeds_b):
        parts = []
        if common is not None:
            parts.append(np.array([seeds.index(s) for s in shared])[common])
        own = [i for i, s in enumerate(seeds) if s not in shared]
        if own:
            parts.append(np.array(own)[rng.integers(0, len(own), size=(resamples, len(own)))])
        picks.append(np.concatenate(parts, axis=1))
    return picks[0], picks[1]


def holm(pvalues: list[float]) -> list[float]:
    """Holm-adjusted p values (same order): the i-th smallest is multiplied by m − i + 1, kept monotone."""
    order = sorted(range(len(pvalues)), key=pvalues.__getitem__)
    adjusted = [0.0] * len(pvalues)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[index]))
        adjusted[index] = running
    return adjusted
