"""The server's settings in the project file."""

from __future__ import annotations

from pydantic import Field

from tunesmith.core.schema import StrictModel


class ServeConfig(StrictModel):
    """How `tunesmith serve` runs."""

    host: str = "127.0.0.1"
    """Interface to bind. Anything but loopback requires API keys."""
    port: int = Field(8000, ge=1, le=65535)
    """TCP port."""
    retrieval: bool = False
    """Ground every chat in the knowledge base unless a request says otherwise."""
    api_keys_env: str = "TUNESMITH_API_KEYS"
    """Environment variable with comma-separated API keys clients must send."""
    max_new_tokens: int = Field(512, ge=1)
    """Cap on `max_tokens` per request."""
    max_upload_mb: float = Field(512, gt=0)
    """Largest file accepted by /v1/files."""
    cors_origins: list[str] = Field(default_factory=list)
    """Origins allowed to call the API from a browser; none (CORS off) by default."""
    adapter_memory_mb: float = Field(1024, gt=0)
    """Adapters kept loaded at once; past this the least recently used is evicted."""
    batch_window_ms: float = Field(20, ge=0, le=1000)
    """How long a request waits for others to share its batch."""
    max_batch: int = Field(16, ge=1, le=256)
    """Largest generation batch."""
    worker: bool = True
    """Start a fine-tuning job worker process with the server."""
