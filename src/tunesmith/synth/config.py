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


class QAConfig(StrictModel):
    """Question-and-answer pairs written by a teacher model from knowledge-base chunks."""

    teacher: ModelRef | None = None
    """The model that writes questions and grounded answers (a local model or an endpoint); the base model
    when unset."""
    chunks: int = Field(40, ge=0)
    """Chunks sampled from the knowledge base (0 = every chunk)."""
    questions_per_chunk: int = Field(1, ge=1, le=10)
    """Questions asked of each chunk."""
    min_words: int = Field(12, ge=1)
    """Chunks shorter than this are skipped (headings, stubs)."""
    seed: int = 13
    """Which chunks are sampled."""
    grounding: Literal["embedding", "judge"] = "embedding"
    """How unsupported answers are caught: `embedding` (every answer sentence must be close to a sentence of the
    chunk) or `judge` (a model reads chunk and answer and says YES or NO)."""
    judge: ModelRef | None = None
    """The judge for grounding=judge; the teacher when unset."""
    min_grounding: float = Field(0.55, ge=-1, le=1)
    """For grounding=embedding: the least mean similarity of answer sentences to their best chunk sentence."""
    min_question_similarity: float = Field(0.3, ge=-1, le=1)
    """A question must be at least this similar (cosine) to its chunk, or it is not about the chunk."""
    duplicate_similarity: float = Field(0.92, ge=0, le=1)
    """A question this similar (cosine) to an existing input or an earlier question is a duplicate."""
    max_new_tokens: int = Field(200, ge=16)
    """Longest answer written."""
    preferences: Literal["none", "no-context", "weaker-model"] = "no-context"
    """Preference pairs: the grounded answer is preferred over the teacher's answer without the chunk
    (`no-context`), or over `rejected_model`'s answer with it (`weaker-model`)."""
    rejected_model: ModelRef | None = None
    """The weaker model for preferences=weaker-model."""
    batch_size: int = Field(8, ge=1, le=512)
    """Requests per batch; each finished batch is journaled, so a crash loses at most one batch."""


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
    kb_qa: QAConfig | None = None
    """Also synthesize question-and-answer examples from the knowledge base (added to the train split)."""
    max_tokens: int = Field(1024, ge=32)
    """Examples longer than this after the base model's chat template are rejected."""
