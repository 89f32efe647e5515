"""The evaluation stage: which systems, which metrics, how many examples."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tunesmith.core.schema import StrictModel

SystemName = Literal["baseline", "base", "base+rag", "finetuned", "finetuned+rag"]
ALL_SYSTEMS: list[str] = ["baseline", "base", "base+rag", "finetuned", "finetuned+rag"]


class StyleRules(StrictModel):
    """The company's voice as checkable rules; the `style` metric is the share of rules an answer meets."""

    required: list[str] = Field(default_factory=list)
    """Phrases every answer must contain (case-insensitive)."""
    required_patterns: list[str] = Field(default_factory=list)
    """Regular expressions every answer must match (multiline mode)."""
    banned: list[str] = Field(default_factory=list)
    """Phrases no answer may contain (case-insensitive)."""
    min_words: int | None = Field(None, ge=0)
    """Shortest acceptable answer in words."""
    max_words: int | None = Field(None, ge=1)
    """Longest acceptable answer in words."""


class EvalConfig(StrictModel):
    """What the evaluation compares and how it scores."""

    primary: str = "rouge_l"
    """The metric that decides (baseline choice, gates, tuning)."""
    metrics: list[str] = Field(default_factory=lambda: ["rouge_l", "embedding_similarity", "style"])
    """Metrics computed for every system."""
    systems: list[SystemName] = Field(default_factory=lambda: list(ALL_SYSTEMS))  # type: ignore[arg-type]
    """Systems in the grid: the baseline prompt, the base and fine-tuned models, each with and without retrieval."""
    style: StyleRules = Field(default_factory=StyleRules)
    """Rules for the `style` metric."""
    limit: int | None = Field(None, ge=1)
    """Use only the first N test examples (all when unset)."""
    max_new_tokens: int = Field(200, ge=1)
    """Output token limit per answer."""
    bootstrap: int = Field(2000, ge=100)
    """Bootstrap resamples for confidence intervals."""
    confidence: float = Field(0.95, gt=0.5, lt=1)
    """Confidence level of the intervals."""
    seed: int = 0
    """Seed of the bootstrap."""
