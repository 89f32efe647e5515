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


class Generator(Protocol):
    """Anything that turns chats into outputs."""

    name: str

    def generate(self, chats: list[Chat], params: GenerationParams, *, on_progress: Any = None) -> list[Generation]: ...
