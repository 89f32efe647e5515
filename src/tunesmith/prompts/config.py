"""The baseline stage: prompt templates x candidate models, and the rule that picks one."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tunesmith.core.schema import StrictModel


class PromptTemplate(StrictModel):
    """One way of prompting a model for the task."""

    name: str
    """Short name shown in the leaderboard."""
    system: str | None = None
    """System prompt; the project's `system_prompt` when unset."""
    user: str = "{input}"
    """User turn; `{input}` is the task input, `{context}` the retrieved knowledge-base points."""
    shots: int = Field(0, ge=0, le=16)
    """Worked examples from the training split put before the input (few-shot)."""
    retrieval: bool = False
    """Retrieve knowledge-base points for `{context}` (appended when `{context}` is absent)."""


def default_templates() -> list[PromptTemplate]:
    return [
        PromptTemplate(name="zero-shot"),
        PromptTemplate(name="few-shot", shots=2),
        PromptTemplate(name="zero-shot+rag", retrieval=True),
    ]


class BaselineConfig(StrictModel):
    """Which prompts to try and how to pick the baseline."""

    templates: list[PromptTemplate] = Field(default_factory=default_templates)
    """Prompt templates to try on every candidate model."""
    select: Literal["best", "best_within_budget"] = "best"
    """`best` primary-metric score, or the best whose cost per 1,000 requests is within `max_cost_per_1k`."""
    max_cost_per_1k: float | None = Field(None, ge=0)
    """Budget for `best_within_budget`, in the currency of the models' prices."""
    limit: int | None = Field(24, ge=1)
    """Validation examples used (all when unset)."""
    max_new_tokens: int = Field(200, ge=1)
    """Output token limit per answer."""
