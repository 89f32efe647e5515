"""The server's settings in the project file."""

from __future__ import annotations

from typing import Literal

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
    bindings: dict[str, str] = Field(default_factory=dict)
    """Models bound to a knowledge base: {model id or prefix: index name}, e.g. {"ft:": default} grounds every
    fine-tune in the project's knowledge base."""
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
    backend: Literal["local", "vllm"] = "local"
    """Where generation runs: in this process (`local`), or on a vLLM server (`vllm`) with adapters loaded
    into it by name."""
    vllm_url: str | None = None
    """The vLLM server's OpenAI base URL, e.g. http://gpu-node:8000/v1 (backend: vllm)."""
    vllm_model: str | None = None
    """The base model's name on the vLLM server (default: the base model's id)."""
    vllm_api_key_env: str | None = None
    """Environment variable with the vLLM server's API key, if it needs one."""
    worker: bool = True
    """Start a fine-tuning job worker process with the server."""
