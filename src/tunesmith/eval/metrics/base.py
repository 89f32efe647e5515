"""What a metric is: a name, a documented range and direction, and a per-example score."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from tunesmith.eval.config import StyleRules


@dataclass
class MetricContext:
    """What a metric may look at besides the output and the reference."""

    inputs: list[str]
    contexts: list[list[str]]  # knowledge-base points shown to the model, per example ([] without retrieval)
    style: StyleRules = field(default_factory=StyleRules)
    embedder: str = "bundled:all-minilm-l6-v2"
    extra: dict[str, Any] = field(default_factory=dict)


class Metric(Protocol):
    name: str
    description: str
    low: float
    high: float
    higher_is_better: bool

    def score(self, outputs: list[str], references: list[str], ctx: MetricContext) -> list[float]:
        """One value per example, in [low, high]."""
        ...
