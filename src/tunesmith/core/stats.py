"""Confidence intervals and paired comparisons: the one bootstrap every stage uses.

Test sets in fine-tuning projects are small (tens to hundreds of examples),
so a difference of means means little without its uncertainty. Intervals are
percentile bootstraps; comparisons resample the *paired* per-example
differences, which removes the between-example variance both systems share
(Efron & Tibshirani 1993, ch. 13; Koehn 2004 for the same in MT evaluation).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass
class Interval:
    mean: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    def rounded(self, digits: int = 4) -> dict[str, float]:
        return {"mean": round(self.mean, digits), "low": round(self.low, digits), "high": round(self.high, digits)}


def format_interval(value: dict[str, Any] | None, *, signed: bool = False, missing: str = "", digits: int = 3) -> str:
    """``0.420 [0.374, 0.470]`` (``+0.223 [+0.172, +0.278]`` when signed) from an interval's dict."""
    if not value:
        return missing
    f = f"{'+' if signed else ''}.{digits}f"
    return f"{value['mean']:{f}} [{value['low']:{f}}, {value['high']:{f}}]"


@dataclass
class Comparison:
    system: str
    other: str
    metric: str
    diff: Interval  # system - other
    p_value: float
    real: bool  # the interval excludes zero
    n_needed: int | None  # examples that would likely resolve an unresolved difference (80% power)

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["diff"] = self.diff.to_dict()
        return out


def _z(confidence: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + confidence / 2)


def bootstrap_mean(values: list[float], *, resamples: int = 2000, confidence: float = 0.95, seed: int = 0) -> Interval:
    """Percentile-bootstrap interval of the mean; nan values (metric not applicable) are left out."""
    data = np.asarray(values, dtype=np.float64)
    data = data[~np.isnan(data)]
    n = len(data)
    if n == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    if n == 1:
        return Interval(float(data[0]), float(data[0]), float(data[0]), 1)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(resamples, n))
    means = data[idx].mean(axis=1)
    alpha = (1 - confidence) / 2
    return Interval(float(data.mean()), float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha)), n)


def paired_comparison(
    system: str,
    other: str,
    metric: str,
    a: list[float],
    b: list[float],
    *,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Comparison:
    """Compare two systems scored on the same examples."""
    if len(a) != len(b):
        raise ValueError("paired comparison needs scores on the same examples")
    diffs = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    diffs = diffs[~np.isnan(diffs)]  # pairs where either side is not applicable
    interval = bootstrap_mean(list(diffs), resamples=resamples, confidence=confidence, seed=seed)
    n = len(diffs)
    # two-sided bootstrap p-value: how often a resampled mean difference lands on the other side of zero
    if n > 1:
        rng = np.random.default_rng(seed + 1)
        means = diffs[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
        centered = means - diffs.mean()
        p = float(np.mean(np.abs(centered) >= abs(diffs.mean())))
    else:
        p = 1.0
    real = bool(n > 1 and (interval.low > 0 or interval.high < 0))
    needed = None
    if not real and n > 1:
        sd = float(diffs.std(ddof=1))
        delta = abs(float(diffs.mean()))
        if delta > 0 and sd > 0:
            # normal-approximation sample size for a paired test at this confidence and 80% power
            needed = math.ceil(((_z(confidence) + 0.8416) * sd / delta) ** 2)
    return Comparison(system, other, metric, interval, p, real, needed)
