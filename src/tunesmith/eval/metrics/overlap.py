"""Reference-overlap metrics."""

from __future__ import annotations

from tunesmith.core.deps import require
from tunesmith.eval.metrics.base import MetricContext


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
