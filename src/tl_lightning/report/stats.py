"""Display statistics for the sweep report: Wilson intervals and the seed spread (the tests are in paired.py)."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

Z95 = 1.959963984540054  # two-sided 95 % normal quantile


def wilson_interval(p: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion `p` measured on `n` items.

    Chosen over the normal approximation because accuracies here sit near 1 on ~150 images,
    where p ± z·sqrt(p(1-p)/n) overshoots 1 and is too narrow.
    """
    if n <= 0:
        raise ValueError(f"n={n}: an interval needs at least one item")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p={p} is not a proportion")
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, center - half), min(1.0, center + half)


@dataclass(frozen=True)
class Estimate:
    """One accuracy over one or more seeds, evaluated on the same `n` val images."""

    values: tuple[float, ...]
    n: int | None  # val images; None when unknown (no interval then)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def std(self) -> float | None:
        """Sample standard deviation over seeds; None with a single seed."""
        return statistics.stdev(self.values) if len(self.values) > 1 else None

    @property
    def interval(self) -> tuple[float, float] | None:
        # Seeds re-use the same val images, so they add no sampling information: the interval
        # stays that of one run's worth of images, centred on the seed mean.
        return wilson_interval(self.mean, self.n) if self.n else None

    def format(self) -> str:
        text = f"{self.mean:.3f}"
        if self.std is not None:
            text += f" ± {self.std:.3f}"
        if self.interval is not None:
            lo, hi = self.interval
            text += f" [{lo:.3f}, {hi:.3f}]"
        return text
