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
