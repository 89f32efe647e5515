"""The knowledge base section of the project file."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tunesmith.core.schema import StrictModel

DEFAULT_EMBEDDER = "bundled:all-minilm-l6-v2"
DEFAULT_INCLUDE = [
    "**/*.md",
    "**/*.markdown",
    "**/*.txt",
    "**/*.rst",
    "**/*.html",
    "**/*.htm",
    "**/*.pdf",
    "**/*.docx",
]


class RecordsConfig(StrictModel):
    """How tables (CSV, TSV, JSON, JSONL) become documents: one per record."""

    text_field: str
    """The field that holds the text to index."""
    title_field: str | None = None
    """A field used as the record's heading (e.g. the FAQ question)."""
    id_field: str | None = None
    """A field that names the record in citations (`file#id`); the line number otherwise."""


class EmbeddingEndpoint(StrictModel):
    """An OpenAI-compatible `/v1/embeddings` server (OpenAI, vLLM, TEI, `tunesmith serve`)."""

    endpoint: str
    """Base URL, e.g. http://localhost:8000/v1."""
    model: str
    """The model name the server expects."""
    api_key_env: str | None = None
    """Environment variable holding the API key (never the key itself)."""
    batch_size: int = Field(64, ge=1, le=2048)
    """Texts per request."""
    max_concurrency: int = Field(4, ge=1, le=64)
    """Requests in flight at once."""

    def spec(self) -> str:
        return f"endpoint:{self.endpoint.rstrip('/')}|{self.model}|{self.api_key_env or ''}|{self.batch_size}|{self.max_concurrency}"


class StoreConfig(StrictModel):
    """Where chunks and vectors live."""

    kind: Literal["lancedb", "pgvector"] = "lancedb"
    """`lancedb`: embedded, on disk in the project folder. `pgvector`: a PostgreSQL server a team shares."""
    url: str | None = None
    """PostgreSQL URL for pgvector (postgresql://user@host:5432/db); prefer url_env for passwords."""
    url_env: str | None = None
    """Environment variable holding the PostgreSQL URL."""
    table_prefix: str = Field("tunesmith_kb", pattern=r"^[a-z_][a-z0-9_]{0,40}$")
    """Tables are named <prefix>_<index name>_chunks and _manifest."""


class KnowledgeConfig(StrictModel):
    """Where the company's documents are and how they are indexed for retrieval."""

    name: str = "default"
    """Name of the index (several projects or variants can keep separate indexes)."""
    paths: list[str] = Field(default_factory=lambda: ["kb"])
    """Files or folders to ingest, relative to the project folder."""
    include: list[str] = Field(default_factory=lambda: list(DEFAULT_INCLUDE))
    """Glob patterns of files to take inside folders (add **/*.csv, **/*.jsonl ... with `records`)."""
    exclude: list[str] = Field(default_factory=list)
    """Glob patterns of files to skip."""
    records: RecordsConfig | None = None
    """How to read tables of records (CSV, TSV, JSON, JSONL) when the paths hold any."""
    embedder: str | EmbeddingEndpoint = DEFAULT_EMBEDDER
    """`bundled:all-minilm-l6-v2` (offline default), any sentence-transformers model name or folder, or
    {endpoint, model, api_key_env} for an OpenAI-compatible embeddings server."""
    store: StoreConfig = Field(default_factory=StoreConfig)
    """The vector store: embedded LanceDB (default) or PostgreSQL + pgvector."""
    fusion: Literal["zscore", "rrf"] = "zscore"
    """How dense and keyword results combine: z-scores of their scores (a decisive exact match wins), or
    reciprocal ranks (RRF)."""
    keyword_weight: float = Field(1.0, ge=0, le=10)
    """Weight of keyword (BM25 / full-text) ranks against dense ranks in the fusion; 0 = dense only.
    `tunesmith kb eval` shows which works better on your queries."""
    reranker: str | None = None
    """A sentence-transformers cross-encoder (name or folder) that reorders the fused candidates."""
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
    relevance: float | Literal["auto"] | None = "auto"
    """Retrieval stays silent when nothing it found is this relevant to the input (the best retrieved sentence's
    cosine similarity), so "write me a poem" gets no policy text: `auto`, the threshold the data build
    calibrated on its validation split; a number; null to always retrieve."""

    @property
    def embedder_spec(self) -> str:
        """One string naming the embedder: what the index records and the loader is keyed by."""
        return self.embedder if isinstance(self.embedder, str) else self.embedder.spec()
