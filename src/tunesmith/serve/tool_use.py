"""`tools` and `tool_choice` in chat completions: the prompt declares the tools through the model's template,
the answer's calls come back as OpenAI `tool_calls` (streamed as deltas too).

`tool_choice`: `none` renders no tools; `auto` lets the model decide; `required`
and a named function start the answer with the template's call syntax (the
function's name too), so the model can only complete a call. Output that looks
like a call but does not parse, or calls an undeclared function, is returned as
text with a warning in the `tunesmith` field: never a server error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tunesmith.data.tools import CallFormat, ParsedCalls, call_format, may_become_call, parse_tool_calls
from tunesmith.serve.openai_schema import ChatRequest, OpenAIError


@dataclass
class ToolUse:
    tools: list[dict[str, Any]]
    names: set[str]
    fmt: CallFormat
    forced: str = ""  # what the answer is started with (tool_choice required / named)

    def parse(self, text: str) -> ParsedCalls:
        return parse_tool_calls(self.forced + text, self.fmt, self.names)


def plan(body: ChatRequest, tokenizer: Any) -> ToolUse | None:
    """How this request uses tools (None: it declares none, or tool_choice is "none")."""
    if not body.tools or body.tool_choice == "none":
        return None
    from tunesmith.core.errors import DataError
    from tunesmith.data.tools import require_tool_template

    try:
        require_tool_template(tokenizer, "tools")
        fmt = call_format(tokenizer)
    except DataError as exc:
        raise OpenAIError(400, exc.render(), param="tools", code="tools_not_supported") from None
    tools = [t.model_dump(exclude_none=True) for t in body.tools]
    names = {t["function"]["name"] for t in tools}
    choice = body.tool_choice
    forced = ""
    if choice == "required":
        forced = fmt.forced_start(None)
    elif choice is not None and not isinstance(choice, str):
        forced = fmt.forced_start(choice.function.name)
    return ToolUse(tools, names, fmt, forced)


def answer(use: ToolUse | None, text: str, finish_reason: str) -> tuple[dict[str, Any], str, str | None]:
    """(message, finish_reason, warning) for one choice."""
    if use is None:
        return {"role": "assistant", "content": text}, finish_reason, None
    parsed = use.parse(text)
    if parsed.calls:
        return {"role": "assistant", "content": parsed.content, "tool_calls": parsed.calls}, "tool_calls", None
    return {"role": "assistant", "content": use.forced + text}, finish_reason, parsed.warning


@dataclass
class ToolStream:
    """Content deltas held back while the answer may still turn out to be a call; the calls at the end."""

    use: ToolUse
    text: str = ""
    sent: int = 0
    held: bool = field(default=False)

    def push(self, delta: str) -> str:
        self.text += delta
        if self.use.forced or may_become_call(self.text, self.use.fmt):
            self.held = True
            return ""
        out, self.sent = self.text[self.sent :], len(self.text)
        return out

    def finish(self, final: str) -> tuple[str, list[dict[str, Any]], str | None]:
        """(content not sent yet, calls, warning) once the answer is complete."""
        parsed = self.use.parse(final)
        if parsed.calls:
            # what was sent before the call is the content; anything held back after it is the call itself
            return "", parsed.calls, None
        whole = self.use.forced + final
        return whole[self.sent :] if whole.startswith(self.text[: self.sent]) else "", [], parsed.warning


def call_deltas(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The calls as streamed `tool_calls` deltas: each with its index, id, name and whole arguments."""
    return [
        {
            "index": i,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": call["function"]["arguments"]},
        }
        for i, call in enumerate(calls)
    ]
