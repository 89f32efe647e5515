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


class JudgeCheckConfig(StrictModel):
    """How well the LLM judge must agree with human labels (`tunesmith judge check`) before a gate or a tuning
    objective may rely on it. Thresholds apply to each statistic measured on at least `min_labels` labels."""

    min_labels: int = Field(20, ge=1)
    """Fewest human labels of a kind (pass/fail, 1-5 scores, pairwise) for its statistic to count."""
    min_kappa: float = Field(0.4, ge=-1, le=1)
    """Cohen's kappa between human pass/fail and the judge's (0.4 is "moderate" agreement, Landis & Koch 1977)."""
    min_spearman: float = Field(0.4, ge=-1, le=1)
    """Spearman's rho between human 1-5 scores and the judge's grades."""
    min_pairwise_accuracy: float = Field(0.7, ge=0, le=1)
    """Share of human preferences (a tie included) the position-swapped judge reproduces."""
    pass_score: float = Field(0.7, ge=0, le=1)
    """A judge grade (0..1) at or above this counts as a pass when compared with human pass/fail."""
    on: Literal["interval", "point"] = "point"
    """Compare the statistic's point estimate, or its interval's lower bound (stricter), with the threshold."""
    resamples: int = Field(1000, ge=100)
    """Bootstrap resamples for the agreement intervals."""


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
    judge_check: JudgeCheckConfig = Field(default_factory=JudgeCheckConfig)
    """Agreement with human labels the judge must show before gates and tuning may use it."""
    labels: str = "labels/labels.jsonl"
    """Where human labels are kept (inside the project; written by `tunesmith label` and the Review page)."""
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
    cache_answers: bool = True
    """Greedy answers of a local model without an adapter (the base systems here, local candidates in the
    baseline stage) come from the answers cache when these exact weights already answered this exact rendered
    prompt with these settings, and are kept there; false decodes every answer again (to time them, say)."""
    bootstrap: int = Field(2000, ge=100)
    """Bootstrap resamples for confidence intervals."""
    confidence: float = Field(0.95, gt=0.5, lt=1)
    """Confidence level of the intervals."""
    seed: int = 0
    """Seed of the bootstrap."""
