"""What a metric is: a name, a documented range and direction, and a per-example score.

A metric returns one float per example; ``nan`` means "not applicable here"
(groundedness of an answer that had no retrieved context, perplexity on an
endpoint that returns no log-probabilities). Statistics skip those examples
and the report prints "n/a" where a system has none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tunesmith.eval.config import FormatRules, StyleRules
from tunesmith.models.generation import Generator


@dataclass
class MetricContext:
    """What a metric may look at besides the output and the reference."""

    inputs: list[str]
    contexts: list[list[str]]  # knowledge-base points shown to the model, per example ([] without retrieval)
    style: StyleRules = field(default_factory=StyleRules)
    format: FormatRules = field(default_factory=FormatRules)
    embedder: str = "bundled:all-minilm-l6-v2"
    generations: list[Any] | None = None  # models.generation.Generation per example (latency, token counts)
    chats: list[list[dict[str, Any]]] | None = None  # the exact prompts the system was given
    # mean negative log-likelihood per reference token given the prompt; None when the model cannot score
    scorer: Callable[[list[list[dict[str, Any]]], list[str]], list[float]] | None = None
    judge: Generator | None = None  # a model used as LLM judge, when configured
    rubric: str = ""
    groundedness_threshold: float = 0.5
    # the points shown to the model as dicts (chunk_id, text, ...), numbered from 1 in the prompt; and per
    # example the chunk ids the reference rests on (the data build's provenance): what citations are checked by
    context_points: list[list[dict[str, Any]]] | None = None
    support: list[list[str]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Metric(Protocol):
    """A metric sees outputs without their citation markers (`[2]`), unless it sets ``reads_citations``."""

    name: str
    description: str
    low: float
    high: float
    higher_is_better: bool

    def score(self, outputs: list[str], references: list[str], ctx: MetricContext) -> list[float]:
        """One value per example, in [low, high], or nan where it does not apply."""
        ...
