"""Likelihood metrics: how probable the model finds the golden output."""

from __future__ import annotations

import math

from tunesmith.eval.metrics.base import MetricContext


class ReferencePerplexity:
    """Perplexity of the golden output under the system's model and prompt. Lower is better.

    Unlike the generation metrics it measures how likely the model finds the
    company's own answer, so it moves with fine-tuning even when greedy outputs
    happen not to. Not available for endpoints without log-probabilities (nan).
    """

    name = "perplexity"
    description = "perplexity of the golden output given the prompt"
    low, high, higher_is_better = 1.0, math.inf, False

    def score(self, outputs: list[str], references: list[str], ctx: MetricContext) -> list[float]:
        if ctx.scorer is None or ctx.chats is None:
            return [math.nan] * len(outputs)
        return [math.exp(min(nll, 50.0)) for nll in ctx.scorer(ctx.chats, references)]
