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
    mix: float | None = Field(None, gt=0, le=10)
    """General-purpose data (not the task's): mixed into the train split only, at this many examples per task
    training example (sampled by the split seed; rows left out are listed in rejects.jsonl)."""
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
    context: Literal["runtime", "golden"] = "runtime"
    """What knowledge goes into each prompt. `runtime` (RAG-aware, in the spirit of RAFT): what the server
    retrieves from the input alone, with distractors and a share of examples whose supporting facts are
    missing, so the model learns to use good context and ignore bad; every chat example, golden or from a
    source. `golden`: the points the golden output rests on (picked with the output in hand), golden rows only."""
    points: int = Field(3, ge=0, le=20)
    """Content points from the knowledge base per prompt (`golden`), or supporting points recorded as each
    reply's provenance (`runtime`, where `knowledge.points` sets the prompt's points as at runtime); 0 = no
    knowledge in the data at all."""
    retrieve_k: int = Field(4, ge=1, le=50)
    """Chunks retrieved per golden output before points are picked from them."""
    min_point_similarity: float = Field(0.3, ge=-1, le=1)
    """A sentence supports an output (is a point of it) only if its cosine similarity to the output reaches this."""
    points_dropout: float = Field(0.25, ge=0, le=1)
    """Share of training examples built without points, so the model also answers without retrieval."""
    distractors: int = Field(1, ge=0, le=10)
    """`runtime`: points from unrelated chunks mixed into each training prompt that has context."""
    missing_share: float = Field(0.2, ge=0, le=1)
    """`runtime`: share of training prompts whose supporting points are taken out of the context."""
    citations: bool = False
    """`runtime`: end each reply sentence a prompt point supports with that point's number, `[2]`, so the
    fine-tuned model cites what it used (citation metrics in the evaluation read them)."""
    cite_similarity: float = Field(0.6, ge=-1, le=1)
    """A reply sentence cites a point when their cosine similarity reaches this."""
    teacher: ModelRef | None = None
    """A model that writes the content points from the retrieved chunks; extractive when unset."""
    preferences: PreferenceConfig | None = None
    """Also build preference pairs from the golden outputs (written as preference_<split>.jsonl)."""
    kb_qa: QAConfig | None = None
    """Also synthesize question-and-answer examples from the knowledge base (added to the train split)."""
    max_tokens: int = Field(1024, ge=32)
    """Examples longer than this after the base model's chat template are rejected."""
