"""The data-building stage: golden outputs + knowledge base -> demonstration pairs."""

from __future__ import annotations

from pydantic import Field

from tunesmith.core.schema import StrictModel
from tunesmith.data.config import GoldenConfig, SplitConfig
from tunesmith.models.spec import ModelRef


class DataBuildConfig(StrictModel):
    """How demonstration pairs are built, cleaned and split."""

    golden: GoldenConfig = Field(default_factory=GoldenConfig)
    """The golden outputs to learn from."""
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
    max_tokens: int = Field(1024, ge=32)
    """Examples longer than this after the base model's chat template are rejected."""
