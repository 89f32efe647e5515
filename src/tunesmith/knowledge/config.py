"""The knowledge base section of the project file."""

from __future__ import annotations

from pydantic import Field

from tunesmith.core.schema import StrictModel

DEFAULT_EMBEDDER = "bundled:all-minilm-l6-v2"


class KnowledgeConfig(StrictModel):
    """Where the company's documents are and how they are indexed for retrieval."""

    name: str = "default"
    """Name of the index (several projects or variants can keep separate indexes)."""
    paths: list[str] = Field(default_factory=lambda: ["kb"])
    """Files or folders to ingest, relative to the project folder."""
    include: list[str] = Field(default_factory=lambda: ["**/*.md", "**/*.markdown", "**/*.txt", "**/*.rst"])
    """Glob patterns of files to take inside folders."""
    exclude: list[str] = Field(default_factory=list)
    """Glob patterns of files to skip."""
    embedder: str = DEFAULT_EMBEDDER
    """`bundled:all-minilm-l6-v2` (offline default) or any sentence-transformers model name or folder."""
    chunk_tokens: int = Field(160, ge=16, le=8192)
    """Token budget per chunk (counted in words and punctuation)."""
    chunk_overlap: int = Field(24, ge=0)
    """Tokens carried over from the end of one chunk to the start of the next."""
    top_k: int = Field(4, ge=1, le=50)
    """Chunks retrieved per query at runtime and in evaluation."""
    points: int = Field(3, ge=1, le=20)
    """Content points (sentences) from those chunks put into the prompt at runtime."""
    min_similarity: float = Field(0.2, ge=-1, le=1)
    """A sentence becomes a runtime point only if its similarity to the input reaches this."""
