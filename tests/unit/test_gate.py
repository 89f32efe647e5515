from __future__ import annotations

from tunesmith.gate.config import GateCheck
from tunesmith.gate.run import evaluate_check

SCORES = {
    "baseline": {"rouge_l": {"mean": 0.20, "low": 0.17, "high": 0.23, "n": 40}},
    "finetuned": {
        "rouge_l": {"mean": 0.45, "low": 0.40, "high": 0.50, "n": 40},
        "style": {"mean": 0.9, "low": 0.85, "high": 0.95, "n": 40},
    },
}
COMPARISONS = [
    {
        "system": "finetuned",
        "other": "baseline",
        "metric": "rouge_l",
        "diff": {"mean": 0.25, "low": 0.20, "high": 0.30, "n": 40},
        "p_value": 0.0,
        "real": True,
        "n_needed": None,
    }
]


def test_margin_over_baseline_judged_on_lower_bound() -> None:
    ok = evaluate_check(GateCheck(metric="rouge_l", above="baseline", margin=0.15), SCORES, COMPARISONS)
    assert ok.passed
    strict = evaluate_check(GateCheck(metric="rouge_l", above="baseline", margin=0.22), SCORES, COMPARISONS)
    assert not strict.passed  # mean 0.25 clears it, the lower bound 0.20 does not
    point = evaluate_check(
        GateCheck(metric="rouge_l", above="baseline", margin=0.22, judge_on="point"), SCORES, COMPARISONS
    )
    assert point.passed


def test_comparison_found_in_either_order() -> None:
    flipped = evaluate_check(GateCheck(metric="rouge_l", system="baseline", above="finetuned"), SCORES, COMPARISONS)
    assert not flipped.passed and flipped.value == -0.25


def test_absolute_thresholds() -> None:
    assert evaluate_check(GateCheck(metric="style", min=0.8), SCORES, COMPARISONS).passed
    assert not evaluate_check(GateCheck(metric="style", min=0.9), SCORES, COMPARISONS).passed
    assert evaluate_check(GateCheck(metric="style", min=0.9, judge_on="point"), SCORES, COMPARISONS).passed


def test_missing_system_fails_with_reason() -> None:
    result = evaluate_check(GateCheck(metric="rouge_l", system="finetuned+rag", min=0.1), SCORES, COMPARISONS)
    assert not result.passed and "not evaluated" in result.reason
