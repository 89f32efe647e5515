from __future__ import annotations

import numpy as np

from tunesmith.core.stats import bootstrap_mean, paired_comparison


def test_bootstrap_interval_contains_mean_and_narrows_with_n() -> None:
    rng = np.random.default_rng(0)
    small = list(rng.normal(0.5, 0.1, 20))
    large = list(rng.normal(0.5, 0.1, 2000))
    a, b = bootstrap_mean(small), bootstrap_mean(large)
    assert a.low < a.mean < a.high
    assert (b.high - b.low) < (a.high - a.low)


def test_paired_comparison_detects_consistent_gain() -> None:
    base = list(np.linspace(0.1, 0.9, 30))
    better = [x + 0.05 for x in base]
    c = paired_comparison("ft", "base", "m", better, base)
    assert c.real and c.diff.low > 0 and abs(c.diff.mean - 0.05) < 1e-9
    assert c.n_needed is None


def test_unresolved_difference_estimates_needed_examples() -> None:
    rng = np.random.default_rng(1)
    a = list(rng.normal(0.5, 0.2, 15))
    b = [x + rng.normal(0.01, 0.2) for x in a]
    c = paired_comparison("a", "b", "m", b, a)
    assert not c.real
    assert c.n_needed is not None and c.n_needed > 15
