"""The evaluation stage: which systems, which metrics, how many examples."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from tunesmith.core.schema import StrictModel
from tunesmith.models.spec import ModelRef

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
    max_reading_grade: float | None = Field(None, ge=0)
    """Highest acceptable Flesch-Kincaid grade level (8 reads easily for most adults)."""


class FormatRules(StrictModel):
    """What a well-formed answer looks like, for the format_regex and json_valid metrics."""

    regex: str | None = None
    """A regular expression every answer must match (searched, multiline)."""
    json_schema: dict[str, Any] | None = None
    """A JSON Schema (draft 2020-12) every answer must validate against."""


class PairwiseConfig(StrictModel):
    """Judge-based pairwise comparison: each answer against another system's, both orders."""

    against: str = "baseline"
    """The system every other system is compared with."""
    systems: list[str] = Field(default_factory=lambda: ["finetuned", "finetuned+rag"])
    """The systems compared with it."""


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
    format: FormatRules = Field(default_factory=FormatRules)
    """Rules for the `format_regex` and `json_valid` metrics."""
    judge: ModelRef | None = None
    """A model (local or endpoint) used as LLM judge for `judge_score`, `groundedness` and pairwise comparison."""
    rubric: str = (
        "Is the reply correct, complete and grounded in the company's policies, and written in the company's "
        "voice like the reference reply?"
    )
    """What the judge grades against."""
    pairwise: PairwiseConfig | None = None
    """Judge each system's answers against another system's, with positions swapped to cancel order bias."""
    groundedness_threshold: float = Field(0.5, ge=-1, le=1)
    """Embedding fallback for `groundedness`: a sentence is supported when this close to a context point."""
    probe: bool = True
    """Run the general-skills probe on the base and fine-tuned models, so lost general ability shows up."""
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
