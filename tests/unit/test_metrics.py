from __future__ import annotations

import pytest

from tunesmith.core.errors import ConfigError
from tunesmith.eval.config import StyleRules
from tunesmith.eval.metrics.base import MetricContext
from tunesmith.eval.metrics.plugins import available, get_metric


def ctx(style: StyleRules | None = None) -> MetricContext:
    return MetricContext(inputs=["q"], contexts=[[]], style=style or StyleRules())


def test_builtins_register_through_entry_points() -> None:
    assert {"rouge_l", "embedding_similarity", "style"} <= set(available())


def test_unknown_metric_suggests() -> None:
    with pytest.raises(ConfigError) as info:
        get_metric("rouge")
    assert "Did you mean 'rouge_l'" in info.value.render()


def test_rouge_l_bounds() -> None:
    metric = get_metric("rouge_l")
    same, other = metric.score(["the tent ships free", "apples"], ["the tent ships free", "the tent"], ctx())
    assert same == pytest.approx(1.0) and other == 0.0


def test_style_rules() -> None:
    rules = StyleRules(
        required=["Happy trails"], required_patterns=[r"^Hi [A-Z]"], banned=["As an AI"], min_words=3, max_words=12
    )
    metric = get_metric("style")
    good = "Hi Sam,\nthanks!\nHappy trails"
    bad = "As an AI I cannot help with that request at all, sorry, truly very sorry indeed."
    scores = metric.score([good, bad], ["", ""], ctx(rules))
    assert scores[0] == 1.0 and scores[1] < 0.5


def test_style_without_rules_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no rules"):
        get_metric("style").score(["x"], ["y"], ctx())
