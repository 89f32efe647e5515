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
    """Largest file accepted by /v1/files and the workbench's upload; checked as the bytes arrive."""
    cors_origins: list[str] = Field(default_factory=list)
    """Origins allowed to call the API from a browser; none (CORS off) by default."""
    adapter_memory_mb: float = Field(1024, gt=0)
    """Adapters kept loaded at once; past this the least recently used is evicted."""
    batch_window_ms: float = Field(20, ge=0, le=1000)
    """How long a request waits for others to share its batch."""
    max_batch: int = Field(16, ge=1, le=256)
    """Most answers generated at once."""
    scheduler: Literal["continuous", "window"] = "continuous"
    """`continuous`: requests join and leave the running batch between decoding steps, so a long answer never
    holds a short one back (serve/scheduler.py). `window`: requests arriving within `batch_window_ms` are
    decoded together to the end of the longest (the earlier behaviour, kept for comparison in bench/load.py)."""
    max_batch_tokens: int = Field(32768, ge=256)
    """KV-cache budget of the running batch, in tokens: rows times the longest prompt plus `max_tokens` among
    them. A request that does not fit waits (first come, first served)."""
    prefill_chunk: int | Literal["auto"] = "auto"
    """Prompt tokens prefilled per scheduling step (short prompts together, a long one in pieces of this size):
    a waiting prompt delays the running answers by at most this much prefill at a time. `auto`: 128 on a CPU
    (where 512 tokens take ~1.6 s for the 135M model on 2 cores, ~9 decoding steps of 16 rows), 2048 on a GPU."""
    prompt_cache_mb: float = Field(256, ge=0)
    """Memory for keys and values of prompts and answers the server computed, reused by later prompts that begin
    with the same tokens (the conversation so far, a shared system prompt): only the rest is prefilled, and
    `usage.prompt_tokens_details.cached_tokens` says how much was reused. Shared only between requests with the
    same API key and model. 0 turns it off (serve/prompt_cache.py)."""
    max_wait_s: float = Field(30, gt=0)
    """Waiting requests are admitted smallest first (prompt plus `max_tokens`); one that has waited this long
    goes first, whatever its size."""
    max_queue: int = Field(256, ge=1)
    """Requests allowed to wait for a slot; past this a request gets 429 and should retry."""
    max_context: int | None = Field(None, ge=16)
    """Longest prompt plus completion accepted, in tokens (default: the model's own context length)."""
    max_messages: int = Field(1024, ge=1)
    """Most messages in one chat request."""
    max_request_kb: int = Field(1024, ge=1)
    """Largest JSON request body (uploads have `max_upload_mb`); larger bodies get 413 as they arrive."""
    max_embedding_inputs: int = Field(2048, ge=1)
    """Most inputs in one embeddings request (OpenAI's limit)."""
    shutdown_timeout_s: float = Field(10, gt=0, le=600)
    """On SIGTERM or Ctrl-C: how long running requests get to finish before they are cancelled."""
    jobs_url_env: str | None = None
    """The environment variable holding a PostgreSQL URL for the fine-tuning and stage job store, for workers
    on several machines (default: SQLite in the project). The project folder must then be shared by them."""
    worker_stale_s: float = Field(60.0, ge=2, le=3600)
    """PostgreSQL job store: a job whose worker sent no heartbeat for this long (workers beat several times a
    second while training) goes back in line and resumes from its last checkpoint on another worker."""
    allowed_hosts: list[str] = Field(default_factory=list)
    """Host names the server answers to besides loopback names and the bound address (a reverse proxy's
    name); any other `Host` header is refused, which stops DNS-rebinding pages reaching a local server."""
    workbench_settable: list[str] = Field(default_factory=list)
    """Settings the workbench's job forms may change although they are locked by default: endpoint and database
    URLs, environment-variable names of keys, `trust_remote_code`. E.g. ["knowledge.store.url"]."""
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
