"""The one internal record every reader produces and every stage consumes.

A demonstration is a conversation (`messages`, OpenAI roles, optional
per-message `weight` on assistant turns, optional `tools`). A preference pair
adds `chosen` and `rejected` continuations of that conversation. Whatever the
file format, readers produce this; writers turn it back into OpenAI JSONL.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

Message = dict[str, Any]


@dataclass
class Example:
    messages: list[Message]
    chosen: list[Message] | None = None
    rejected: list[Message] | None = None
    tools: list[Any] | None = None
    id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return "preference" if self.chosen is not None else "chat"

    def fingerprint(self) -> str:
        """Identity of the content (not of the file position): the key for exact duplicates."""
        body = {"m": self.messages, "c": self.chosen, "r": self.rejected, "t": self.tools}
        return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def text(self) -> str:
        """All message contents, in order: what dedup, PII and language checks look at."""
        parts = [content_text(m) for m in self.messages]
        for extra in (self.chosen or [], self.rejected or []):
            parts.extend(content_text(m) for m in extra)
        return "\n".join(p for p in parts if p)

    def prompt_text(self) -> str:
        """The non-assistant turns: what a user would send (the key for split leakage)."""
        return "\n".join(content_text(m) for m in self.messages if m.get("role") != "assistant")


def content_text(message: Message) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


class RecordProblem(Exception):
    """One record that cannot be used, with the OpenAI-style error code and the field."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
