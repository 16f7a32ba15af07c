"""Statistics over seeds: mean ± standard deviation, and paired differences with a t interval.

For a method and a baseline run with the same seeds s = 1..n, the paired differences
d_s = m_s − b_s have mean d̄ and sample standard deviation s_d (n − 1 in the denominator);
the confidence interval of the mean difference is

    d̄ ± t_{(1+level)/2, n−1} · s_d / √n

(Student's t, as ``scipy.stats.ttest_rel(...).confidence_interval()``). With a handful of seeds
the interval is wide: that is the honest answer, and :func:`verdict` says so in words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats

__all__ = ["Summary", "Paired", "summarize", "paired_difference", "verdict"]


@dataclass(frozen=True)
class Summary:
    """Mean and sample standard deviation (ddof = 1; NaN for one value) of n values."""

    mean: float
    std: float
    n: int

    def text(self, digits: int = 2, scale: float = 1.0) -> str:
        if self.n == 0:
            return "–"
        return f"{self.mean * scale:.{digits}f}" + (f" ± {self.std * scale:.{digits}f}" if self.n > 1 else "")


@dataclass(frozen=True)
class Paired:
    """Paired differences method − baseline over n seeds: mean, interval at ``level``, wins and ties."""

    mean: float
    low: float
    high: float
    wins: int
    ties: int
    n: int
    level: float


def summarize(values: Sequence[float]) -> Summary:
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return Summary(math.nan, math.nan, 0)
    return Summary(float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else math.nan, int(v.size))


def paired_difference(method: Sequence[float], baseline: Sequence[float], *, level: float = 0.95,
                      higher_is_better: bool = True) -> Paired:
    """Differences ``method − baseline`` seed by seed (see the module docstring).

    ``wins`` counts the seeds where the method is better (higher, or lower if not ``higher_is_better``).

    Raises:
        ValueError: lists of different lengths, or an empty one.
    """
    m, b = np.asarray(method, dtype=np.float64), np.asarray(baseline, dtype=np.float64)
    if m.shape != b.shape or m.ndim != 1 or m.size == 0:
        raise ValueError(f"need two equal, non-empty lists of per-seed values, got {m.shape} and {b.shape}")
    d = m - b
    better = d > 0 if higher_is_better else d < 0
    mean = float(d.mean())
    if d.size > 1:
        half = float(stats.t.ppf((1 + level) / 2, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size))
        low, high = mean - half, mean + half
    else:
        low = high = math.nan
    return Paired(mean, low, high, int(better.sum()), int((d == 0).sum()), int(d.size), level)


def verdict(name: str, baseline: str, p: Paired, *, unit: str = "points", digits: int = 2,
            higher_is_better: bool = True) -> str:
    """One plain sentence, e.g. "SWA-cyclic beat SGD in 2 of 3 seeds; mean difference +0.20 points,
    95% CI [-0.40, +0.80]: no clear gain"."""
    head = f"{name} beat {baseline} in {p.wins} of {p.n} seed{'s' if p.n != 1 else ''}"
    if p.n < 2 or not math.isfinite(p.low):
        return f"{head}; difference {p.mean:+.{digits}f} {unit} (one seed: no interval; use more seeds)"
    good_side = p.low > 0 if higher_is_better else p.high < 0
    bad_side = p.high < 0 if higher_is_better else p.low > 0
    conclusion = "a clear gain" if good_side else "a clear loss" if bad_side else "no clear difference"
    return (f"{head}; mean difference {p.mean:+.{digits}f} {unit}, {p.level:.0%} CI "
            f"[{p.low:+.{digits}f}, {p.high:+.{digits}f}]: {conclusion}")
