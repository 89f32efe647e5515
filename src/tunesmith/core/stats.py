"""Confidence intervals and paired comparisons: the one bootstrap every stage uses.

Test sets in fine-tuning projects are small (tens to hundreds of examples),
so a difference of means means little without its uncertainty. Intervals are
percentile bootstraps; comparisons resample the *paired* per-example
differences, which removes the between-example variance both systems share
(Efron & Tibshirani 1993, ch. 13; Koehn 2004 for the same in MT evaluation).

Beside the bootstrap, each comparison carries the classical paired test a
reviewer expects for its kind of metric: McNemar's exact test where both
systems' scores are pass/fail (0 or 1), the Wilcoxon signed-rank test for
graded scores. A grid compares many pairs on many metrics, so ``holm``
adjusts a family of p-values (Holm 1979) before anything is called significant.
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
    test: str = "wilcoxon"  # the classical paired test: "mcnemar" (pass/fail scores) or "wilcoxon"
    test_p: float = 1.0  # its two-sided p-value, before any multiple-comparison correction

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
    pairs = ~(np.isnan(np.asarray(a, dtype=np.float64)) | np.isnan(np.asarray(b, dtype=np.float64)))
    kept_a = np.asarray(a, dtype=np.float64)[pairs]
    kept_b = np.asarray(b, dtype=np.float64)[pairs]
    test, test_p = paired_test(kept_a, kept_b)
    needed = None
    if not real and n > 1:
        sd = float(diffs.std(ddof=1))
        delta = abs(float(diffs.mean()))
        if delta > 0 and sd > 0:
            # normal-approximation sample size for a paired test at this confidence and 80% power
            needed = math.ceil(((_z(confidence) + 0.8416) * sd / delta) ** 2)
    return Comparison(system, other, metric, interval, p, real, needed, test, test_p)


def is_pass_fail(values: np.ndarray) -> bool:
    return bool(len(values)) and bool(np.isin(values, (0.0, 1.0)).all())


def paired_test(a: np.ndarray, b: np.ndarray) -> tuple[str, float]:
    """(test name, two-sided p) for paired scores without nan: McNemar for 0/1 scores, else Wilcoxon."""
    if is_pass_fail(a) and is_pass_fail(b):
        return "mcnemar", mcnemar(a.astype(bool), b.astype(bool))
    return "wilcoxon", wilcoxon_signed_rank(a - b)


def mcnemar(a: np.ndarray, b: np.ndarray) -> float:
    """McNemar's exact test: only the discordant pairs count; under no difference each way is a coin flip.
    The exact binomial form is right at every sample size (the chi-square form needs 25+ discordant pairs)."""
    from scipy.stats import binomtest

    only_a = int(np.sum(a & ~b))
    only_b = int(np.sum(~a & b))
    if only_a + only_b == 0:
        return 1.0
    return float(binomtest(only_a, only_a + only_b, 0.5).pvalue)


def wilcoxon_signed_rank(diffs: np.ndarray) -> float:
    """Wilcoxon's signed-rank test on paired differences; zero differences are dropped (Wilcoxon's own
    convention), so a pair of systems that never differ has p = 1."""
    from scipy.stats import wilcoxon

    nonzero = diffs[diffs != 0]
    if len(nonzero) == 0:
        return 1.0
    return float(wilcoxon(nonzero).pvalue)


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment: family-wise error controlled without Bonferroni's loss of power.
    Adjusted p-values are returned in the input's order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def with_holm(comparisons: list[dict[str, Any]], *, confidence: float = 0.95) -> list[dict[str, Any]]:
    """Each comparison dict with ``holm_p`` (its test's p adjusted across the whole list) and ``significant``
    (holm_p below 1 - confidence)."""
    adjusted = holm([c.get("test_p", 1.0) for c in comparisons])
    return [
        {**c, "holm_p": p, "significant": bool(p < 1 - confidence)} for c, p in zip(comparisons, adjusted, strict=True)
    ]


def bootstrap_statistic(
    statistic: Any, n: int, *, resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> Interval:
    """Percentile-bootstrap interval of ``statistic(indices)`` over ``n`` items resampled with replacement
    (agreement statistics like kappa or Spearman's rho, which are not means). Resamples where the statistic
    is undefined (nan, e.g. one class only) are left out."""
    point = float(statistic(np.arange(n)))
    if n < 2 or math.isnan(point):
        return Interval(point, point, point, n)
    rng = np.random.default_rng(seed)
    values = np.asarray([statistic(rng.integers(0, n, size=n)) for _ in range(resamples)], dtype=np.float64)
    values = values[~np.isnan(values)]
    if not len(values):
        return Interval(point, point, point, n)
    alpha = (1 - confidence) / 2
    return Interval(point, float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha)), n)
