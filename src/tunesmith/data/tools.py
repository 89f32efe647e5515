"""Tool calling in OpenAI's fine-tuning format: validation, rendering through the model's template, parsing.

A conversation may declare ``tools`` (functions with JSON-Schema parameters);
assistant turns may carry ``tool_calls`` (name + arguments as a JSON string)
and ``tool`` messages answer them by ``tool_call_id``. Validation checks every
call against its declared function and schema, so a broken call is a rejected
row with its reason, not a lesson. Templates follow Hugging Face's convention
(arguments as a mapping, tools passed to ``apply_chat_template``); a template
that ignores ``tools`` is refused with the fix, never trained on silently.

How a model writes a call is read from its own template: an assistant turn
with a probe call is rendered and the text around the call's JSON is the
format (Hermes/Qwen ``<tool_call>{...}</tool_call>``, Llama 3.1's bare JSON
with ``parameters``, Mistral's ``[TOOL_CALLS]``...). The server parses model
output with that format, and forces a call (``tool_choice``) by starting the
answer with it.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from tunesmith.core.errors import DataError
from tunesmith.data.records import RecordProblem

NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_TOOLS = 128
PROBE = "tunesmith_probe_fn"


# -- validation --------------------------------------------------------------------------------
def check_tools(tools: Any, where: str = "tools") -> dict[str, dict[str, Any]]:
    """``{name: parameters schema}`` of a valid OpenAI ``tools`` list; the first problem raises RecordProblem."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    if not isinstance(tools, list) or not tools:
        raise RecordProblem("invalid_tools", "'tools' must be a non-empty list", where)
    if len(tools) > MAX_TOOLS:
        raise RecordProblem("invalid_tools", f"at most {MAX_TOOLS} tools, got {len(tools)}", where)
    out: dict[str, dict[str, Any]] = {}
    for i, tool in enumerate(tools):
        at = f"{where}[{i}]"
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(tool.get("function"), dict):
            raise RecordProblem("invalid_tools", "a tool must be {'type': 'function', 'function': {...}}", at)
        function = tool["function"]
        name = function.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            raise RecordProblem("invalid_tools", f"function name {name!r} must match [A-Za-z0-9_-]{{1,64}}", at)
        if name in out:
            raise RecordProblem("invalid_tools", f"function {name!r} is declared twice", at)
        parameters = function.get("parameters", {"type": "object", "properties": {}})
        if not isinstance(parameters, dict):
            raise RecordProblem("invalid_tools", "parameters must be a JSON Schema object", f"{at}.function.parameters")
        try:
            Draft202012Validator.check_schema(parameters)
        except SchemaError as exc:
            raise RecordProblem(
                "invalid_tools", f"parameters is not a valid JSON Schema: {exc.message}", f"{at}.function.parameters"
            ) from None
        out[name] = parameters
    return out


def check_tool_use(messages: list[dict[str, Any]], tools: Any) -> None:
    """Every assistant tool call names a declared function with arguments that are a JSON object valid for its
    schema; every tool message answers an earlier call by its id."""
    from jsonschema import Draft202012Validator

    calls_made = any(m.get("tool_calls") for m in messages) or any(m.get("role") == "tool" for m in messages)
    if tools is None:
        if calls_made:
            raise RecordProblem("tool_calls_without_tools", "tool calls appear but no 'tools' are declared", "tools")
        return
    schemas = check_tools(tools)
    open_calls: set[str] = set()
    for i, message in enumerate(messages):
        at = f"messages[{i}]"
        calls = message.get("tool_calls")
        if calls is not None:
            if message.get("role") != "assistant":
                raise RecordProblem("invalid_tool_calls", "only assistant messages make tool calls", f"{at}.tool_calls")
            if not isinstance(calls, list) or not calls:
                raise RecordProblem("invalid_tool_calls", "tool_calls must be a non-empty list", f"{at}.tool_calls")
            for j, call in enumerate(calls):
                cat = f"{at}.tool_calls[{j}]"
                function = call.get("function") if isinstance(call, dict) else None
                if not isinstance(function, dict) or call.get("type", "function") != "function":
                    raise RecordProblem("invalid_tool_calls", "a call is {'id', 'type': 'function', 'function'}", cat)
                if not isinstance(call.get("id"), str) or not call["id"]:
                    raise RecordProblem("invalid_tool_calls", "a call needs an 'id' its tool result refers to", cat)
                name = function.get("name")
                if name not in schemas:
                    raise RecordProblem(
                        "unknown_function", f"calls {name!r}, which 'tools' does not declare", f"{cat}.function.name"
                    )
                arguments = parse_arguments(function.get("arguments"))
                if arguments is None:
                    raise RecordProblem(
                        "invalid_tool_arguments", "arguments must be a JSON object (as a string)", f"{cat}.function"
                    )
                errors = sorted(Draft202012Validator(schemas[name]).iter_errors(arguments), key=lambda e: e.path)
                if errors:
                    raise RecordProblem(
                        "invalid_tool_arguments",
                        f"arguments do not match {name}'s parameters: {errors[0].message}",
                        f"{cat}.function.arguments",
                    )
                open_calls.add(call["id"])
        if message.get("role") == "tool":
            ref = message.get("tool_call_id")
            if ref not in open_calls:
                raise RecordProblem(
                    "unanswered_tool_result",
                    f"tool result for {ref!r}, which no earlier call made",
                    f"{at}.tool_call_id",
                )
            open_calls.discard(ref)


def parse_arguments(value: Any) -> dict[str, Any] | None:
    """A call's arguments as a mapping: OpenAI sends a JSON string, templates take the object."""
    if isinstance(value, dict):
        return value
    if not isinstance(value, str):
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


# -- rendering ---------------------------------------------------------------------------------
def for_template(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages in the shape chat templates expect: call arguments as mappings, tool results named."""
    names: dict[str, str] = {}
    out = []
    for message in messages:
        message = {k: v for k, v in message.items() if k != "weight"}
        if message.get("tool_calls"):
            calls = []
            for call in message["tool_calls"]:
                function = call["function"]
                names[call.get("id", "")] = function["name"]
                calls.append(
                    {
                        "id": call.get("id"),
                        "type": "function",
                        "function": {
                            "name": function["name"],
                            "arguments": parse_arguments(function["arguments"]) or {},
                        },
                    }
                )
            message["tool_calls"] = calls
            if message.get("content") is None:
                message["content"] = ""
        if message.get("role") == "tool" and "name" not in message and message.get("tool_call_id") in names:
            message["name"] = names[message["tool_call_id"]]
        out.append(message)
    return out


def _probe_tools() -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {
                "name": PROBE,
                "description": "probe",
                "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
            },
        }
    ]


def _per_template(tokenizer: Any, key: str, compute: Any) -> Any:
    """``compute()`` once per tokenizer and chat template (a project may replace a tokenizer's template)."""
    cache = tokenizer.__dict__.setdefault("_tunesmith_tool_cache", {})
    slot = (key, getattr(tokenizer, "chat_template", None))
    if slot not in cache:
        cache[slot] = compute()
    return cache[slot]


def supports_tools(tokenizer: Any) -> bool:
    """Whether the chat template shows the declared tools to the model (many templates silently drop them)."""

    def probe() -> bool:
        chat = [{"role": "user", "content": "hi"}]
        try:
            text = tokenizer.apply_chat_template(chat, tools=_probe_tools(), tokenize=False, add_generation_prompt=True)
        except Exception:  # noqa: BLE001 - a template that breaks on tools does not support them
            return False
        return PROBE in str(text)

    return bool(_per_template(tokenizer, "supports", probe))


def require_tool_template(tokenizer: Any, where: str) -> None:
    if not supports_tools(tokenizer):
        raise DataError(
            "the model's chat template does not show tools to the model, so tool calls cannot be trained or served",
            where=where,
            fix="Use a model whose template supports tools (Qwen2.5, Llama 3.1+, Mistral, ...), or give the model "
            "reference a `chat_template:` that renders `tools` and `tool_calls` (examples/order-tools has one).",
        )


@dataclass(frozen=True)
class CallFormat:
    """How the template writes a call: ``prefix`` + JSON object + ``suffix``; which keys hold name and arguments."""

    prefix: str
    suffix: str
    name_key: str
    args_key: str
    name_first: bool

    def forced_start(self, name: str | None) -> str:
        """Text that starts a call (to any function, or to ``name``), for tool_choice required/named. It stops
        right after the function's name, before its closing quote: cut anywhere the template's own text would
        be tokenized differently (`": {"` is often one token), the model would continue from a token boundary it
        never saw in training."""
        if name is None or not self.name_first:
            return self.prefix
        return self.prefix + '{"' + self.name_key + '": "' + name


def call_format(tokenizer: Any) -> CallFormat:
    """The call syntax of the model's template, read from a rendered probe call."""
    return _per_template(tokenizer, "format", lambda: _read_call_format(tokenizer))  # type: ignore[no-any-return]


def _read_call_format(tokenizer: Any) -> CallFormat:
    chat = [{"role": "user", "content": "hi"}]
    head = str(tokenizer.apply_chat_template(chat, tools=_probe_tools(), tokenize=False, add_generation_prompt=True))
    call = {"id": "call_0", "type": "function", "function": {"name": PROBE, "arguments": {"q": "v"}}}
    full = str(
        tokenizer.apply_chat_template(
            chat + [{"role": "assistant", "content": "", "tool_calls": [call]}], tools=_probe_tools(), tokenize=False
        )
    )
    if not full.startswith(head) or PROBE not in full[len(head) :]:
        raise DataError(
            "the chat template does not render an assistant's tool call after its tools",
            fix="Use a template that renders `tool_calls` on assistant turns.",
        )
    turn = full[len(head) :]
    at = turn.index(PROBE)
    start = turn.rfind("{", 0, at)
    obj, end = json.JSONDecoder().raw_decode(turn, start)
    name_key = next(k for k, v in obj.items() if v == PROBE)
    args_key = next(k for k, v in obj.items() if v in ({"q": "v"}, '{"q": "v"}'))
    return CallFormat(
        turn[:start], _end_of_turn(tokenizer, turn[end:]), name_key, args_key, next(iter(obj)) == name_key
    )


def _end_of_turn(tokenizer: Any, rest: str) -> str:
    """What follows the call's JSON before the template's special tokens (e.g. '\\n</tool_call>')."""
    specials = [t for t in getattr(tokenizer, "all_special_tokens", []) if t and t in rest]
    cut = min((rest.index(t) for t in specials), default=len(rest))
    return rest[:cut].rstrip()


# -- parsing model output -----------------------------------------------------------------------
@dataclass
class ParsedCalls:
    content: str | None
    calls: list[dict[str, Any]]
    warning: str | None = None


def parse_tool_calls(text: str, fmt: CallFormat, allowed: set[str]) -> ParsedCalls:
    """The OpenAI ``tool_calls`` in a model's output; text before the first call stays content. A call that does
    not parse, names an undeclared function or has non-object arguments leaves the whole output as text, with a
    warning: a malformed call is never a server error."""
    starts = _call_starts(text, fmt)
    if not starts:
        return ParsedCalls(text, [])
    decoder = json.JSONDecoder()
    calls = []
    for start in starts:
        brace = text.find("{", start + len(fmt.prefix) if fmt.prefix else start)
        if brace < 0:
            return ParsedCalls(text, [], "the model's tool call has no JSON object (cut off?)")
        try:
            obj, _ = decoder.raw_decode(text, brace)
        except json.JSONDecodeError as exc:
            return ParsedCalls(text, [], f"the model's tool call is not valid JSON ({exc.msg})")
        if not isinstance(obj, dict) or not isinstance(obj.get(fmt.name_key), str):
            return ParsedCalls(text, [], "the model's tool call has no function name")
        name = obj[fmt.name_key]
        if name not in allowed:
            return ParsedCalls(text, [], f"the model called {name!r}, which the request's tools do not declare")
        arguments = obj.get(fmt.args_key, {})
        if isinstance(arguments, str):
            arguments = parse_arguments(arguments)
        if not isinstance(arguments, dict):
            return ParsedCalls(text, [], f"the model's call to {name} has arguments that are not a JSON object")
        calls.append(
            {
                "id": f"call_{uuid.uuid4().hex[:24]}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False)},
            }
        )
    content = text[: starts[0]].strip()
    return ParsedCalls(content or None, calls)


def _call_starts(text: str, fmt: CallFormat) -> list[int]:
    if fmt.prefix.strip():
        marker = fmt.prefix.strip()
        return [m.start() for m in re.finditer(re.escape(marker), text)]
    # a bare-JSON format (Llama 3.1): the answer is a call when it starts with one
    stripped = text.lstrip()
    return [len(text) - len(stripped)] if stripped.startswith("{") and f'"{fmt.name_key}"' in stripped else []


def may_become_call(text: str, fmt: CallFormat) -> bool:
    """While streaming: whether text produced so far could still turn out to be (or contain) a call, so it is
    held back instead of sent as content."""
    marker = fmt.prefix.strip()
    if not marker:
        stripped = text.lstrip()
        return not stripped or stripped.startswith("{")
    if marker in text:
        return True
    # the end of the text could be the beginning of the marker
    return any(text.endswith(marker[:k]) for k in range(1, len(marker)))
