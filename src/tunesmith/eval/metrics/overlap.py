"""Reference-overlap metrics: exact match, token F1, ROUGE-L, chrF and BLEU."""

from __future__ import annotations

import re
import string
from collections import Counter

from tunesmith.core.deps import require
from tunesmith.eval.metrics.base import MetricContext

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def squad_normalize(text: str) -> str:
    """Lowercase, drop punctuation, articles and extra whitespace (the SQuAD v1.1 evaluation script's rule)."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCT)).split())


class ExactMatch:
    """1 when output and reference are equal after SQuAD normalization, else 0. Higher is better."""

    name = "exact_match"
    description = "output equals the reference after normalization"
    low, high, higher_is_better = 0.0, 1.0, True

    def score(self, outputs: list[str], references: list[str], ctx: MetricContext) -> list[float]:
        return [float(squad_normalize(o) == squad_normalize(r)) for o, r in zip(outputs, references, strict=True)]


class TokenF1:
    """Harmonic mean of token precision and recall against the reference (SQuAD), 0..1, higher is better."""

    name = "token_f1"
    description = "token-overlap F1 against the reference"
    low, high, higher_is_better = 0.0, 1.0, True

    def score(self, outputs: list[str], references: list[str], ctx: MetricContext) -> list[float]:
        scores = []
        for out, ref in zip(outputs, references, strict=True):
            predicted, gold = squad_normalize(out).split(), squad_normalize(ref).split()
            common = sum((Counter(predicted) & Counter(gold)).values())
            if not predicted or not gold or common == 0:
                scores.append(float(predicted == gold))
                continue
            precision, recall = common / len(predicted), common / len(gold)
            scores.append(2 * precision * recall / (precision + recall))
        return scores


class RougeL:
    """ROUGE-L F1 (longest common subsequence, Porter-stemmed), 0..1, higher is better.

    Rewards the wording and order of the reference, so it is the metric that
    most directly sees whether a model writes in the company's own phrasing.
    """

    name = "rouge_l"
    description = "ROUGE-L F1 against the golden output"
    low, high, higher_is_better = 0.0, 1.0, True

    def score(self, outputs: list[str], references: list[str], ctx: MetricContext) -> list[float]:
        rouge = require("rouge_score.rouge_scorer", purpose="ROUGE")
        scorer = rouge.RougeScorer(["rougeL"], use_stemmer=True)
        return [float(scorer.score(ref, out)["rougeL"].fmeasure) for out, ref in zip(outputs, references, strict=True)]


class ChrF:
    """chrF (character n-gram F-score, Popović 2015) via sacrebleu, 0..100 scaled to 0..1, higher is better."""

    name = "chrf"
    description = "character n-gram F-score (sacrebleu chrF)"
    low, high, higher_is_better = 0.0, 1.0, True

    def score(self, outputs: list[str], references: list[str], ctx: MetricContext) -> list[float]:
        sacrebleu = require("sacrebleu", purpose="chrF")
        metric = sacrebleu.metrics.CHRF()
        return [metric.sentence_score(o, [r]).score / 100 for o, r in zip(outputs, references, strict=True)]


class Bleu:
    """Sentence BLEU with exponential smoothing (sacrebleu), 0..100 scaled to 0..1, higher is better."""

    name = "bleu"
    description = "sentence-level BLEU (sacrebleu, smoothed)"
    low, high, higher_is_better = 0.0, 1.0, True

    def score(self, outputs: list[str], references: list[str], ctx: MetricContext) -> list[float]:
        sacrebleu = require("sacrebleu", purpose="BLEU")
        metric = sacrebleu.metrics.BLEU(effective_order=True)
        return [metric.sentence_score(o, [r]).score / 100 for o, r in zip(outputs, references, strict=True)]
