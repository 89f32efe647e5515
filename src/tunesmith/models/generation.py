"""The one generation interface every stage uses.

Eval, synth, baseline, the judge and the server all call
``generator.generate(chats, params)``; whether the model is local (batched,
KV cache) or behind an OpenAI-compatible endpoint (concurrent requests) is the
generator's business.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

Message = dict[str, Any]
Chat = list[Message]


class ToolChat(list):  # type: ignore[type-arg]
    """A chat that declares tools (OpenAI's function list) to the model: local generators render them through
    the chat template, endpoints send them with the request. Every other stage sees a plain list of messages."""

    def __init__(self, messages: Chat, tools: list[dict[str, Any]]) -> None:
        super().__init__(messages)
        self.tools = tools


def tools_of(chat: Chat) -> list[dict[str, Any]] | None:
    return getattr(chat, "tools", None)


@dataclass(frozen=True)
class GenerationParams:
    """How to sample. ``temperature == 0`` means greedy decoding."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["stop"] = list(self.stop)
        return out


@dataclass
class Generation:
    """One output with the counts a leaderboard and a server need."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" (end of turn or stop string) or "length"
    latency_s: float
    extra: dict[str, Any] = field(default_factory=dict)
    # OpenAI-shaped calls the output makes, when the chat declared tools (None: no tools, or no call)
    tool_calls: list[dict[str, Any]] | None = None


class Generator(Protocol):
    """Anything that turns chats into outputs."""

    name: str

    def generate(self, chats: list[Chat], params: GenerationParams, *, on_progress: Any = None) -> list[Generation]: ...
