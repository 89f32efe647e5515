"""Score outputs with named metrics."""

from __future__ import annotations

from tunesmith.eval.metrics.base import MetricContext
from tunesmith.eval.metrics.plugins import get_metric


def score_outputs(
    metrics: list[str], outputs: list[str], references: list[str], ctx: MetricContext
) -> dict[str, list[float]]:
    return {name: get_metric(name).score(outputs, references, ctx) for name in metrics}
