"""Request and response shapes of OpenAI's chat API that tunesmith accepts and returns."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# a seed is a signed 64-bit integer, as OpenAI's API documents it
INT64 = 2**63
ModelName = Annotated[str, Field(min_length=1, max_length=256)]
StopString = Annotated[str, Field(max_length=256)]


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
    stop: StopString | Annotated[list[StopString], Field(max_length=4)] | None = None
    """Up to 4 sequences, as OpenAI's API allows: each costs a check at every generated token."""
    n: int = Field(1, ge=1, le=16)
    seed: int | None = Field(None, ge=-INT64, le=INT64 - 1)
    stream: bool = False
    tunesmith: TunesmithOptions | None = None


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: ModelName
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"
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
