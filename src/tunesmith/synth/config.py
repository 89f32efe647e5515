"""The data-building stage: golden outputs + knowledge base -> demonstration pairs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tunesmith.core.schema import StrictModel
from tunesmith.data.config import CleanConfig, GoldenConfig, SplitConfig
from tunesmith.models.spec import ModelRef


class SourceConfig(StrictModel):
    """A dataset you already have (chat, preference, Alpaca, ShareGPT, CSV, Parquet, a saved HF dataset)."""

    path: str
    """File or folder, relative to the project folder."""
    format: str | None = None
    """Force a format (openai-chat, openai-preference, prompt-completion, alpaca, sharegpt, csv, tsv, parquet,
    hf-disk); detected from the content when unset."""
    columns: dict[str, str] | None = None
    """For tables: which column holds each field, e.g. {input: question, output: answer, system: sys}."""
    split: Literal["auto", "train", "val", "test"] = "auto"
    """Split it like the golden outputs (auto), or put all of it in one split (e.g. a curated test set)."""


class PreferenceConfig(StrictModel):
    """Preference pairs made from the golden outputs, for dpo, kto and reward training."""

    strategy: Literal["base-model"] = "base-model"
    """`base-model`: the golden output is preferred over what the base model answers to the same prompt."""
    splits: list[Literal["train", "val", "test"]] = Field(default_factory=lambda: ["train", "val"])
    """Splits to make pairs for."""
    max_new_tokens: int = Field(200, ge=8)
    """Longest rejected answer generated."""


class DataBuildConfig(StrictModel):
    """How demonstration pairs are built, cleaned and split."""

    golden: GoldenConfig | None = Field(default_factory=GoldenConfig)
    """The golden outputs to learn from (null when training only on `sources`)."""
    sources: list[SourceConfig] = Field(default_factory=list)
    """Existing datasets added as they are (validated, cleaned and split with the rest)."""
    clean: CleanConfig = Field(default_factory=CleanConfig)
    """Deduplication, PII, length and language filters."""
    split: SplitConfig = Field(default_factory=SplitConfig)
    """Train/validation/test fractions and seed."""
    points: int = Field(3, ge=0, le=20)
    """Content points from the knowledge base put into each instruction (0 = none)."""
    retrieve_k: int = Field(4, ge=1, le=50)
    """Chunks retrieved per golden output before points are picked from them."""
    min_point_similarity: float = Field(0.3, ge=-1, le=1)
    """A sentence becomes a point only if its cosine similarity to the output reaches this."""
    points_dropout: float = Field(0.25, ge=0, le=1)
    """Share of training examples built without points, so the model also answers without retrieval."""
    teacher: ModelRef | None = None
    """A model that writes the content points from the retrieved chunks; extractive when unset."""
    preferences: PreferenceConfig | None = None
    """Also build preference pairs from the golden outputs (written as preference_<split>.jsonl)."""
    max_tokens: int = Field(1024, ge=32)
    """Examples longer than this after the base model's chat template are rejected."""
