"""The company's voice, as rules from the project file."""

from __future__ import annotations

import re

from tunesmith.core.errors import ConfigError
from tunesmith.eval.config import StyleRules
from tunesmith.eval.metrics.base import MetricContext

_VOWEL_GROUPS = re.compile(r"[aeiouy]+")


def syllables(word: str) -> int:
    """Vowel-group count with the silent-e correction: the usual heuristic, within ~1 syllable per word."""
    word = word.lower().strip(".,!?;:'\"()")
    if not word:
        return 0
    count = len(_VOWEL_GROUPS.findall(word))
    if word.endswith("e") and not word.endswith(("le", "ee")) and count > 1:
        count -= 1
    return max(1, count)


def reading_grade(text: str) -> float:
    """Flesch-Kincaid grade level (Kincaid et al. 1975): 0.39 words/sentence + 11.8 syllables/word - 15.59."""
    sentences = max(1, len(re.findall(r"[.!?]+(?:\s|$)", text)))
    words = re.findall(r"[A-Za-z][A-Za-z'-]*", text)
    if not words:
        return 0.0
    return 0.39 * len(words) / sentences + 11.8 * sum(syllables(w) for w in words) / len(words) - 15.59


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
    if rules.max_reading_grade is not None:
        results[f"reading grade <= {rules.max_reading_grade:g}"] = reading_grade(text) <= rules.max_reading_grade
    return results


class Style:
    """Share of the project's style rules an answer meets, 0..1, higher is better."""

    name = "style"
    description = "share of eval.style rules met (required/banned phrases, patterns, length, reading level)"
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
