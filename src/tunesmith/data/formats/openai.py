"""OpenAI's fine-tuning formats: chat (`messages`) and preference (DPO).

The chat checks mirror the error classes of OpenAI's own data-preparation
cookbook (wrong data type, missing messages list, message missing key,
unrecognized key, unrecognized role, missing content, no assistant message),
so a file that passes here passes there.
"""

from __future__ import annotations

from typing import Any

from tunesmith.data.records import Example, Message, RecordProblem
from tunesmith.data.tools import check_tool_use

ROLES = {"system", "user", "assistant", "tool", "developer", "function"}
MESSAGE_KEYS = {"role", "content", "name", "weight", "tool_calls", "tool_call_id", "function_call", "refusal"}
CHAT_KEYS = {"messages", "tools", "functions", "parallel_tool_calls", "id", "metadata", "meta"}
PREFERENCE_KEYS = {
    "input",
    "preferred_output",
    "non_preferred_output",
    "preferred_completion",
    "non_preferred_completion",
    "id",
    "metadata",
    "meta",
}


def check_messages(messages: Any, where: str = "messages", *, need_assistant: bool = True) -> list[Message]:
    """Validate a list of OpenAI messages; the first problem raises RecordProblem."""
    if not isinstance(messages, list) or not messages:
        raise RecordProblem("missing_messages_list", f"'{where}' must be a non-empty list", where)
    has_assistant = False
    for i, message in enumerate(messages):
        at = f"{where}[{i}]"
        if not isinstance(message, dict):
            raise RecordProblem("wrong_data_type", "each message must be an object", at)
        for key in ("role", "content"):
            tool_call = key == "content" and ("tool_calls" in message or "function_call" in message)
            if key not in message and not tool_call:
                raise RecordProblem("message_missing_key", f"message has no '{key}'", f"{at}.{key}")
        for key in message:
            if key not in MESSAGE_KEYS:
                raise RecordProblem("message_unrecognized_key", f"unrecognized message key '{key}'", f"{at}.{key}")
        role = message.get("role")
        if role not in ROLES:
            raise RecordProblem("unrecognized_role", f"unrecognized role {role!r}", f"{at}.role")
        content = message.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise RecordProblem("wrong_data_type", "content must be a string", f"{at}.content")
        if not content and not message.get("tool_calls") and not message.get("function_call"):
            raise RecordProblem("missing_content", "message content is empty", f"{at}.content")
        if "weight" in message:
            if role != "assistant":
                raise RecordProblem("invalid_weight", "weight is only allowed on assistant messages", f"{at}.weight")
            if message["weight"] not in (0, 1) or isinstance(message["weight"], bool):
                raise RecordProblem("invalid_weight", "weight must be 0 or 1", f"{at}.weight")
        has_assistant = has_assistant or role == "assistant"
    if need_assistant and not has_assistant:
        raise RecordProblem("no_assistant_message", "no assistant message to learn from", where)
    return messages


class OpenAIChat:
    name = "openai-chat"
    description = "OpenAI chat fine-tuning JSONL: {'messages': [...], 'tools'?: [...]}"

    def detect(self, value: Any) -> bool:
        return isinstance(value, dict) and "messages" in value

    def parse(self, value: Any) -> Example:
        if not isinstance(value, dict):
            raise RecordProblem("wrong_data_type", f"expected a JSON object, got {type(value).__name__}")
        if "messages" not in value:
            raise RecordProblem("missing_messages_list", "record has no 'messages' list", "messages")
        for key in value:
            if key not in CHAT_KEYS:
                raise RecordProblem("unrecognized_key", f"unrecognized key '{key}'", key)
        messages = check_messages(value["messages"])
        check_tool_use(messages, value.get("tools"))
        return Example(
            messages=messages,
            tools=value.get("tools"),
            id=_id(value),
            meta=dict(value.get("meta") or value.get("metadata") or {}),
        )


class OpenAIPreference:
    name = "openai-preference"
    description = (
        "OpenAI preference (DPO) JSONL: {'input': {'messages': [...]}, 'preferred_output': [...], "
        "'non_preferred_output': [...]} (also the older *_completion spelling)"
    )

    def detect(self, value: Any) -> bool:
        return (
            isinstance(value, dict)
            and "input" in value
            and any(k in value for k in ("preferred_output", "preferred_completion"))
        )

    def parse(self, value: Any) -> Example:
        if not isinstance(value, dict):
            raise RecordProblem("wrong_data_type", f"expected a JSON object, got {type(value).__name__}")
        for key in value:
            if key not in PREFERENCE_KEYS:
                raise RecordProblem("unrecognized_key", f"unrecognized key '{key}'", key)
        source = value.get("input")
        if not isinstance(source, dict):
            raise RecordProblem("wrong_data_type", "'input' must be an object with 'messages'", "input")
        prompt = check_messages(source.get("messages"), "input.messages", need_assistant=False)
        chosen = _continuation(value, "preferred_output", "preferred_completion")
        rejected = _continuation(value, "non_preferred_output", "non_preferred_completion")
        if chosen == rejected:
            raise RecordProblem(
                "identical_pair", "preferred and non-preferred outputs are identical", "preferred_output"
            )
        return Example(
            messages=prompt,
            chosen=chosen,
            rejected=rejected,
            tools=source.get("tools"),
            id=_id(value),
            meta=dict(value.get("meta") or value.get("metadata") or {}),
        )


def _continuation(value: dict[str, Any], key: str, old_key: str) -> list[Message]:
    name = key if key in value else old_key
    if name not in value:
        raise RecordProblem("missing_field", f"record has no '{key}'", key)
    output = value[name]
    if isinstance(output, str):  # a bare string is an assistant message
        output = [{"role": "assistant", "content": output}]
    messages = check_messages(output, name)
    if any(m.get("role") != "assistant" for m in messages):
        raise RecordProblem("unrecognized_role", f"'{name}' may only hold assistant messages", name)
    return messages


def _id(value: dict[str, Any]) -> str | None:
    return None if value.get("id") is None else str(value["id"])


def chat_json(example: Example) -> dict[str, Any]:
    """An Example as an OpenAI chat fine-tuning record."""
    out: dict[str, Any] = {"messages": example.messages + (example.chosen or [])}
    if example.tools:
        out["tools"] = example.tools
    return out


def preference_json(example: Example) -> dict[str, Any]:
    """A preference Example as an OpenAI DPO record."""
    source: dict[str, Any] = {"messages": example.messages}
    if example.tools:
        source["tools"] = example.tools
    return {"input": source, "preferred_output": example.chosen, "non_preferred_output": example.rejected}
