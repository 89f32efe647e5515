"""Score outputs with named metrics."""

from __future__ import annotations

from tunesmith.data.instruction import strip_citations
from tunesmith.eval.metrics.base import MetricContext
from tunesmith.eval.metrics.plugins import get_metric


def score_outputs(
    metrics: list[str], outputs: list[str], references: list[str], ctx: MetricContext
) -> dict[str, list[float]]:
    """Every metric per example. Citation markers are taken out before a metric compares wording or meaning
    with a reference that has none; the citation metrics read them."""
    plain = [strip_citations(o) for o in outputs]
    out = {}
    for name in metrics:
        metric = get_metric(name)
        out[name] = metric.score(outputs if getattr(metric, "reads_citations", False) else plain, references, ctx)
    return out
