"""What a paired comparison can resolve: the interval of the difference, the equivalence test, detectable size.

All three work on the per-image differences d_i = (mean correctness of A's runs) − (that of B's runs) on
the n val images, each in [−1, 1].
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from statistics import NormalDist

import numpy as np

from tl_lightning.report.paired import ALPHA

POWER = 0.80
MARGIN = 0.02  # default equivalence margin: ±2 accuracy points
_NORMAL = NormalDist()


@dataclass(frozen=True)
class Resolution:
    low: float  # 95 % interval of the accuracy difference A − B
    high: float
    tost_p: float  # equivalence within ±margin (two one-sided tests)
    detectable: float | None  # smallest |difference| found with 80 % power at α; None: not even the largest
    detectable_strict: float | None  # the same at α / m, Holm's first step in a family of m comparisons


def interval(d: np.ndarray, level: float = 0.95) -> tuple[float, float, float, float]:
    """(low, high, centre, standard error): the Bonett–Price adjusted Wald interval for paired proportions.

    With one run per cell it adds one pseudo-image that only A gets right and one that only B gets right
    (Bonett & Price 2012: (n12 + 1) / (n + 2) and (n21 + 1) / (n + 2)); the same formula on the
    seed-averaged differences generalises it: centre Σd / (n + 2), variance ((Σd² + 2) / (n + 2) − centre²)
    / (n + 2). Unlike the plain Wald interval it does not collapse to a point when no image is discordant.
    """
    n = d.size
    centre = float(d.sum()) / (n + 2)
    se = math.sqrt(max(0.0, (float((d * d).sum()) + 2) / (n + 2) - centre**2) / (n + 2))
    z = _NORMAL.inv_cdf(0.5 + level / 2)
    return max(-1.0, centre - z * se), min(1.0, centre + z * se), centre, se


def tost_p(d: np.ndarray, margin: float) -> float:
    """p of the two one-sided tests of |A − B| ≥ margin (normal approximation on the interval's centre and error).

    Small p: the difference lies within ±margin. It is the larger of the two one-sided p values, so
    p < α exactly when the 1 − 2α interval lies inside (−margin, +margin).
    """
    _, _, centre, se = interval(d)
    if se == 0:
        return 0.0 if abs(centre) < margin else 1.0
    return max(1 - _NORMAL.cdf((centre + margin) / se), _NORMAL.cdf((centre - margin) / se))


def resolution(d: np.ndarray, margin: float, family_size: int) -> Resolution:
    low, high, _, _ = interval(d)
    strict = ALPHA / max(1, family_size)
    return Resolution(low, high, tost_p(d, margin), detectable(d, ALPHA), detectable(d, strict))


def detectable(d: np.ndarray, alpha: float) -> float | None:
    """Smallest accuracy difference δ the test finds with 80 % power at level `alpha` on this design.

    The design is n images and the observed share π of images the cells disagree on; a difference δ needs a
    share of at least δ, so the share used is max(π, δ). One run per cell (every |d_i| 0 or 1): exact McNemar
    power: the discordant count D ~ Binomial(n, share), the images favouring A given D ~ Binomial(D,
    (1 + δ / share) / 2), summed over the exact test's rejection region. Several runs per cell: the normal
    approximation of the sign-flip test, n·δ = (z(1 − α/2) + z(0.80)) · √(Σd_i²), with Σd_i² scaled up in the
    same way where δ needs more disagreement than observed. None: not even δ = 1 reaches 80 % power.
    """
    n = d.size
    absolute = float(np.abs(d).sum())
    if n == 0:
        return None
    if np.all(np.isin(d, (-1, 0, 1))):
        return _mcnemar_detectable(n, absolute / n, alpha)
    squares = float((d * d).sum())
    ratio = squares / absolute if absolute else 1.0  # Σd² per unit of Σ|d|: 1 for McNemar, less with averaging
    z = _NORMAL.inv_cdf(1 - alpha / 2) + _NORMAL.inv_cdf(POWER)
    return _smallest(lambda delta: n * delta >= z * math.sqrt(max(squares, n * delta * ratio)))


def _smallest(found: Callable[[float], bool]) -> float | None:
    """Smallest δ in (0, 1] with found(δ), found being monotone; None if not even δ = 1."""
    if not found(1.0):
        return None
    low, high = 0.0, 1.0
    while high - low > 1e-5:
        mid = (low + high) / 2
        low, high = (low, mid) if found(mid) else (mid, high)
    return high


@cache
def _mcnemar_detectable(n: int, observed: float, alpha: float) -> float | None:
    log_fact = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n + 1)))])
    counts = np.arange(n + 1)
    critical = [_critical(m, alpha) for m in range(n + 1)]

    def binomial(m: int, q: float) -> np.ndarray:
        if q >= 1:
            return (np.arange(m + 1) == m).astype(float)
        k = np.arange(m + 1)
        return np.exp(log_fact[m] - log_fact[k] - log_fact[m - k] + k * math.log(q) + (m - k) * math.log1p(-q))

    def power(delta: float) -> float:
        share = max(observed, delta)
        weight = binomial(n, share)
        total = 0.0
        for m in counts[(weight > 1e-15) & (np.array(critical) >= 0)]:
            pmf, c = binomial(int(m), (1 + delta / share) / 2), critical[m]
            total += weight[m] * float(pmf[: c + 1].sum() + pmf[m - c :].sum())
        return total

    return _smallest(lambda delta: power(delta) >= POWER)


def _critical(m: int, alpha: float) -> int:
    """Largest count c such that c (or fewer) of m discordant images for one side gives exact McNemar p ≤ alpha;
    −1 when even 0 of m does not (few discordant images can never be significant)."""
    c, term, tail = -1, 1, 0  # term = comb(m, c + 1), updated in integers
    while c + 1 < m - (c + 1):
        tail += term
        if 2 * tail / 2**m > alpha:
            break
        c += 1
        term = term * (m - c) // (c + 1)
    return c
