"""Each metric's range and direction on hand-checked cases."""

from __future__ import annotations

import math

import pytest

from tunesmith.core.errors import ConfigError
from tunesmith.eval.config import FormatRules, StyleRules
from tunesmith.eval.metrics.base import MetricContext
from tunesmith.eval.metrics.plugins import get_metric
from tunesmith.eval.metrics.style import reading_grade
from tunesmith.models.generation import Generation


def ctx(**kw) -> MetricContext:  # type: ignore[no-untyped-def]
    return MetricContext(inputs=["q", "q"], contexts=[[], []], **kw)


def score(name: str, outputs: list[str], refs: list[str], **kw) -> list[float]:  # type: ignore[no-untyped-def]
    return get_metric(name).score(outputs, refs, ctx(**kw))


def test_exact_match_and_token_f1() -> None:
    assert score("exact_match", ["The Paris.", "Rome"], ["paris", "Paris"]) == [1.0, 0.0]
    f1 = score("token_f1", ["ships in five days", "nothing"], ["it ships in five business days", "yes"])
    assert f1[0] == pytest.approx(0.8) and f1[1] == 0.0  # precision 4/4, recall 4/6


def test_chrf_and_bleu_order_outputs_sensibly() -> None:
    ref = "Standard shipping takes three to six business days."
    for name in ("chrf", "bleu"):
        same, close, far = (
            score(name, [o, o], [ref, ref])[0]
            for o in (ref, "Standard shipping takes three to five business days.", "Bananas are yellow.")
        )
        assert same == pytest.approx(1.0) and same > close > far >= 0.0


def test_format_checks() -> None:
    rules = FormatRules(
        regex=r"^Order NW\d{8}$",
        json_schema={"type": "object", "required": ["refund"], "properties": {"refund": {"type": "number"}}},
    )
    assert score("format_regex", ["Order NW12345678", "order 5"], ["", ""], format=rules) == [1.0, 0.0]
    assert score("json_valid", ['```json\n{"refund": 12.5}\n```', '{"refund": "no"}'], ["", ""], format=rules) == [
        1.0,
        0.0,
    ]
    with pytest.raises(ConfigError):
        score("format_regex", ["x"], ["y"])


def test_reading_grade_rises_with_long_words_and_sentences() -> None:
    easy = "We ship fast. You can track it. Call us any time."
    hard = (
        "Notwithstanding contractual stipulations, reimbursement determinations necessitate comprehensive "
        "documentation substantiating manufacturer responsibility and demonstrating irregularities."
    )
    assert reading_grade(easy) < 4 < 14 < reading_grade(hard)
    rules = StyleRules(max_reading_grade=8)
    assert score("style", [easy, hard], ["", ""], style=rules) == [1.0, 0.0]


def test_cost_metrics_read_generations_and_are_lower_is_better() -> None:
    gens = [Generation("a", 10, 3, "stop", 0.5), Generation("b", 20, 7, "length", 1.5)]
    assert score("output_tokens", ["a", "b"], ["", ""], generations=gens) == [3.0, 7.0]
    assert score("prompt_tokens", ["a", "b"], ["", ""], generations=gens) == [10.0, 20.0]
    assert score("latency_s", ["a", "b"], ["", ""], generations=gens) == [0.5, 1.5]
    assert not get_metric("latency_s").higher_is_better and not get_metric("perplexity").higher_is_better


def test_perplexity_without_a_scorer_is_not_applicable() -> None:
    assert all(math.isnan(v) for v in score("perplexity", ["a", "b"], ["x", "y"]))


def test_groundedness_fallback_prefers_supported_sentences() -> None:
    context = ["Unused items can be returned within 60 days of delivery for a full refund."]
    supported = "You can return unused items within 60 days of delivery for a full refund."
    invented = "Our stores sell fresh pizza and give away free bicycles every Tuesday afternoon."
    metric = get_metric("groundedness")
    values = metric.score(
        [supported, invented, supported], ["", "", ""], MetricContext(inputs=["q"] * 3, contexts=[context, context, []])
    )
    assert values[0] == 1.0 and values[1] == 0.0 and math.isnan(values[2])
