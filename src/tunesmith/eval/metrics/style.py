"""The company's voice, as rules from the project file."""

from __future__ import annotations

import re

from tunesmith.core.errors import ConfigError
from tunesmith.eval.config import StyleRules
from tunesmith.eval.metrics.base import MetricContext


def rule_results(text: str, rules: StyleRules) -> dict[str, bool]:
    """Each declared rule and whether ``text`` meets it."""
    lowered = text.lower()
    words = len(text.split())
    results: dict[str, bool] = {}
    for phrase in rules.required:
        results[f"contains {phrase!r}"] = phrase.lower() in lowered
    for pattern in rules.required_patterns:
        results[f"matches /{pattern}/"] = re.search(pattern, text, flags=re.MULTILINE) is not None
    for phrase in rules.banned:
        results[f"avoids {phrase!r}"] = phrase.lower() not in lowered
    if rules.min_words is not None:
        results[f">= {rules.min_words} words"] = words >= rules.min_words
    if rules.max_words is not None:
        results[f"<= {rules.max_words} words"] = words <= rules.max_words
    return results


class Style:
    """Share of the project's style rules an answer meets, 0..1, higher is better."""

    name = "style"
    description = "share of eval.style rules met (required/banned phrases, patterns, length)"
    low, high, higher_is_better = 0.0, 1.0, True

    def score(self, outputs: list[str], references: list[str], ctx: MetricContext) -> list[float]:
        if not rule_results("", ctx.style):
            raise ConfigError(
                "the style metric has no rules to check",
                where="eval.style",
                fix="Declare required, required_patterns, banned, min_words or max_words.",
            )
        scores = []
        for out in outputs:
            results = rule_results(out, ctx.style)
            scores.append(sum(results.values()) / len(results))
        return scores
