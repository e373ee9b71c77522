"""Paired tests on per-image correctness: every cell is scored on the same val images, so compare image by image.

- The sign-flip permutation test over images of the per-image difference in correctness (each cell's runs
  averaged per image). With one run per cell, or runs that agree image by image, it is exactly the exact
  McNemar test. Its p value is computed exactly (no resampling) unless the distribution is too large.
- Holm's step-down correction within one family of comparisons (one assignment question).
"""

from __future__ import annotations

import math

import numpy as np

ALPHA = 0.05
MONTE_CARLO = 100_000  # sign draws when the exact distribution would be too large (see sign_flip_p)
MONTE_CARLO_SEED = 0  # a fixed generator: the report is reproducible
EXACT_LIMIT = 20_000  # largest sum of |differences| (in units of 1 / lcm(seeds)) done exactly

MCNEMAR = "exact McNemar"
SIGN_FLIP = "exact sign-flip"


def image_differences(a: list[list[bool]], b: list[list[bool]]) -> tuple[np.ndarray, int]:
    """Per image, (mean correctness over A's runs − mean over B's runs) × scale, as integers; and the scale.

    scale = lcm(runs of A, runs of B) makes every difference an integer, so the exact test can count sums.
    """
    scale = math.lcm(len(a), len(b))
    right_a = np.asarray(a, dtype=np.int64).sum(axis=0) * (scale // len(a))
    right_b = np.asarray(b, dtype=np.int64).sum(axis=0) * (scale // len(b))
    return right_a - right_b, scale


def which_test(differences: np.ndarray) -> str:
    """The name the report gives the test: McNemar where the sign-flip test is McNemar (all |d| equal)."""
    return MCNEMAR if len(set(np.abs(differences[differences != 0]).tolist())) <= 1 else SIGN_FLIP


def sign_flip_p(differences: np.ndarray) -> float:
    """Two-sided p of the sign-flip test: under H0 each image's difference is as likely to have either sign.

    p = P(|Σ ±d_i| ≥ |Σ d_i|) over the 2^n equally likely sign patterns. The distribution of the sum is
    exact: images with the same |d| contribute |d|·(2X − m), X ~ Binomial(m, 1/2), and these are convolved.
    With all |d| equal (one run per cell) this is the exact McNemar test. Above EXACT_LIMIT the p value is
    estimated from MONTE_CARLO seeded sign draws, (k + 1) / (draws + 1).
    """
    magnitudes = np.abs(differences[differences != 0]).astype(np.int64)
    if magnitudes.size == 0:
        return 1.0
    observed = abs(int(differences.sum()))
    total = int(magnitudes.sum())
    if total > EXACT_LIMIT:
        return _monte_carlo_p(magnitudes, observed)
    dist = np.ones(1)
    for value, count in zip(*np.unique(magnitudes, return_counts=True), strict=True):
        kernel = np.zeros(2 * int(value) * int(count) + 1)
        kernel[:: 2 * int(value)] = _half_binomial(int(count))
        dist = np.convolve(dist, kernel)
    sums = np.arange(-total, total + 1)
    return min(1.0, float(dist[np.abs(sums) >= observed].sum()))


def _half_binomial(m: int) -> np.ndarray:
    """P(X = k) for X ~ Binomial(m, 1/2), k = 0..m, each correctly rounded from exact integers."""
    return np.array([math.comb(m, k) / 2**m for k in range(m + 1)])


def _monte_carlo_p(magnitudes: np.ndarray, observed: int) -> float:
    rng = np.random.default_rng(MONTE_CARLO_SEED)
    extreme = 0
    for start in range(0, MONTE_CARLO, 10_000):
        signs = rng.integers(0, 2, size=(min(10_000, MONTE_CARLO - start), magnitudes.size)) * 2 - 1
        extreme += int(np.sum(np.abs(signs @ magnitudes) >= observed))
    return (1 + extreme) / (1 + MONTE_CARLO)


def paired_test(a: list[list[bool]], b: list[list[bool]]) -> tuple[str, float]:
    """(test name, two-sided p) for two cells' runs, each a list of per-image correctness in one image order."""
    differences, _ = image_differences(a, b)
    return which_test(differences), sign_flip_p(differences)


def holm(pvalues: list[float]) -> list[float]:
    """Holm-adjusted p values (same order): the i-th smallest is multiplied by m − i + 1, kept monotone."""
    order = sorted(range(len(pvalues)), key=pvalues.__getitem__)
    adjusted = [0.0] * len(pvalues)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[index]))
        adjusted[index] = running
    return adjusted
