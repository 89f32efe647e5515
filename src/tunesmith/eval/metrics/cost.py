"""What an answer costs: latency and tokens, per request."""

from __future__ import annotations

import math

from tunesmith.eval.metrics.base import MetricContext


class LatencySeconds:
    """Seconds the answer took (the batch's wall time for batched local models). Lower is better."""

    name = "latency_s"
    description = "generation latency in seconds"
    low, high, higher_is_better = 0.0, math.inf, False

    def score(self, outputs: list[str], references: list[str], ctx: MetricContext) -> list[float]:
        return [float(g.latency_s) for g in ctx.generations] if ctx.generations else [math.nan] * len(outputs)


class OutputTokens:
    """Tokens generated per answer. Lower is cheaper; compare with the reference length."""

    name = "output_tokens"
    description = "generated tokens per answer"
    low, high, higher_is_better = 0.0, math.inf, False

    def score(self, outputs: list[str], references: list[str], ctx: MetricContext) -> list[float]:
        return [float(g.completion_tokens) for g in ctx.generations] if ctx.generations else [math.nan] * len(outputs)


class PromptTokens:
    """Prompt tokens per request: what a long prompt costs on every call. Lower is cheaper."""

    name = "prompt_tokens"
    description = "prompt tokens per request"
    low, high, higher_is_better = 0.0, math.inf, False

    def score(self, outputs: list[str], references: list[str], ctx: MetricContext) -> list[float]:
        return [float(g.prompt_tokens) for g in ctx.generations] if ctx.generations else [math.nan] * len(outputs)
