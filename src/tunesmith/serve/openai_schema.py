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


class FunctionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str | None = Field(None, max_length=4096)
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolSpec(BaseModel):
    """One declared function, as OpenAI's `tools` entries."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["function"] = "function"
    function: FunctionSpec


class NamedFunction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=64)


class NamedToolChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["function"] = "function"
    function: NamedFunction


class TunesmithOptions(BaseModel):
    """The `tunesmith` extension field (the openai client sends it through `extra_body`)."""

    model_config = ConfigDict(extra="forbid")
    retrieval: bool | None = None
    """Ground this request in the knowledge base (default: the model's binding, else the server's setting)."""
    kb: str | None = Field(None, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$")
    """Which knowledge base (index name) grounds it; implies retrieval."""


class ChatRequest(BaseModel):
    # unknown OpenAI fields (logprobs, response_format, ...) are tolerated and ignored, as other servers do
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
    tools: list[ToolSpec] | None = Field(None, max_length=128)
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None

    @model_validator(mode="after")
    def _tools(self) -> ChatRequest:
        if self.tools:
            from tunesmith.data.records import RecordProblem
            from tunesmith.data.tools import check_tools

            try:
                check_tools([t.model_dump(exclude_none=True) for t in self.tools])
            except RecordProblem as problem:
                raise ValueError(f"{problem.field}: {problem.message}") from None
        choice = self.tool_choice
        if choice is not None and choice != "none" and not self.tools:
            raise ValueError("tool_choice needs tools")
        if isinstance(choice, NamedToolChoice) and choice.function.name not in {
            t.function.name for t in self.tools or []
        }:
            raise ValueError(f"tool_choice names {choice.function.name!r}, which tools does not declare")
        for i, message in enumerate(self.messages):
            extra = message.model_extra or {}
            if "tool_calls" in extra and not _calls_shape(extra["tool_calls"]):
                raise ValueError(f"messages[{i}].tool_calls must be a list of function calls with string arguments")
            if message.role == "tool" and not isinstance(extra.get("tool_call_id"), str):
                raise ValueError(f"messages[{i}] (role tool) needs a tool_call_id")
        return self

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


def _calls_shape(calls: Any) -> bool:
    if not isinstance(calls, list) or not 0 < len(calls) <= 128:
        return False
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            return False
        if not isinstance(function.get("arguments"), str) or len(function["arguments"]) > 100_000:
            return False
    return True


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
