"""Request and response shapes of OpenAI's chat API that tunesmith accepts and returns."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# a seed is a signed 64-bit integer, as OpenAI's API documents it
INT64 = 2**63
ModelName = Annotated[str, Field(min_length=1, max_length=256)]


def _valid_text(value: Any, depth: int = 0) -> Any:
    """Every string in a request must be encodable text (JSON's `\\ud800` escapes decode to lone surrogates that
    tokenizers cannot take), and no value nested deeper than 32 levels."""
    if depth > 32:
        raise ValueError("the request is nested more than 32 levels deep")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("text contains an unpaired surrogate (invalid Unicode)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _valid_text(key, depth + 1)
            _valid_text(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _valid_text(item, depth + 1)
    return value


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | Annotated[list[dict[str, Any]], Field(max_length=256)] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.get("text", "") for part in self.content if part.get("type") == "text")
        return self.content or ""


class TunesmithOptions(BaseModel):
    """The `tunesmith` extension field (the openai client sends it through `extra_body`)."""

    model_config = ConfigDict(extra="forbid")
    retrieval: bool | None = None
    """Ground this request in the knowledge base (default: the model's binding, else the server's setting)."""
    kb: str | None = Field(None, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$")
    """Which knowledge base (index name) grounds it; implies retrieval."""


class ChatRequest(BaseModel):
    # unknown OpenAI fields (logprobs, tools, ...) are tolerated and ignored, as other servers do
    model_config = ConfigDict(extra="allow")
    model: ModelName
    messages: list[ChatMessage] = Field(min_length=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1, le=2**31 - 1)
    max_completion_tokens: int | None = Field(None, ge=1, le=2**31 - 1)
    stop: str | list[str] | None = None
    """Up to 4 sequences of at most 256 characters, as OpenAI's API allows: each costs a check at every token."""
    n: int = Field(1, ge=1, le=16)
    seed: int | None = Field(None, ge=-INT64, le=INT64 - 1)
    stream: bool = False
    tunesmith: TunesmithOptions | None = None

    @model_validator(mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return _valid_text(value)

    @field_validator("stop")
    @classmethod
    def _bounded_stop(cls, value: str | list[str] | None) -> str | list[str] | None:
        sequences = [value] if isinstance(value, str) else value or []
        if len(sequences) > 4:
            raise ValueError(f"at most 4 stop sequences are allowed, got {len(sequences)}")
        if any(len(s) > 256 for s in sequences):
            raise ValueError("a stop sequence may have at most 256 characters")
        return value


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: ModelName
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"

    @model_validator(mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return _valid_text(value)

    dimensions: int | None = Field(None, ge=1)


def error_body(
    message: str, *, type_: str = "invalid_request_error", param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class OpenAIError(Exception):
    """An error a route raises; the app answers it with OpenAI's error object and ``status``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type_: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = error_body(message, type_=type_, param=param, code=code)


def fine_tuned_model_id(base: str, suffix: str | None, ident: str) -> str:
    """``ft:BASE:SUFFIX:ID``, the one shape of every fine-tuned model's id (jobs, training runs, checkpoints)."""
    return f"ft:{base}:{suffix or 'tunesmith'}:{ident.removeprefix('ftjob-')}"
