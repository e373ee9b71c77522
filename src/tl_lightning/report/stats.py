"""Small statistics for the sweep report: Wilson intervals, seed spread, and a noise rule."""

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


@dataclass(frozen=True)
class Verdict:
    diff: float  # a.mean - b.mean
    intervals_overlap: bool | None  # None when an interval is unknown
    seed_threshold: float | None  # 2 x the larger seed std; None without seeds

    @property
    def exceeds_noise(self) -> bool:
        """A difference counts only if the intervals are disjoint AND it beats the seed spread."""
        if self.intervals_overlap is None or self.intervals_overlap:
            return False
        return self.seed_threshold is None or abs(self.diff) > self.seed_threshold

    def reason(self) -> str:
        if self.intervals_overlap is None:
            return "no interval (val size unknown)"
        parts = ["95 % intervals overlap" if self.intervals_overlap else "95 % intervals disjoint"]
        if self.seed_threshold is not None:
            word = ">" if abs(self.diff) > self.seed_threshold else "≤"
            # No '|' (as in |Δ|): these reasons sit inside markdown table cells.
            parts.append(f"size of Δ {abs(self.diff):.3f} {word} 2×seed std {self.seed_threshold:.3f}")
        return "; ".join(parts)


def compare(a: Estimate, b: Estimate) -> Verdict:
    """Apply the report's noise rule to the difference a - b."""
    ia, ib = a.interval, b.interval
    overlap = None if ia is None or ib is None else (ia[0] <= ib[1] and ib[0] <= ia[1])
    stds = [s for s in (a.std, b.std) if s is not None]
    threshold = 2 * max(stds) if stds else None
    return Verdict(diff=a.mean - b.mean, intervals_overlap=overlap, seed_threshold=threshold)
