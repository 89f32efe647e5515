"""The community formats: prompt/completion, Alpaca and ShareGPT."""

from __future__ import annotations

from typing import Any

from tunesmith.data.formats.base import require_str
from tunesmith.data.formats.openai import check_messages
from tunesmith.data.records import Example, RecordProblem


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RecordProblem("wrong_data_type", f"expected a JSON object, got {type(value).__name__}")
    return value


class PromptCompletion:
    name = "prompt-completion"
    description = "JSONL with 'prompt' and 'completion' strings (OpenAI's legacy format)"

    def detect(self, value: Any) -> bool:
        return isinstance(value, dict) and "prompt" in value and "completion" in value

    def parse(self, value: Any) -> Example:
        value = _object(value)
        prompt = require_str(value, "prompt")
        completion = require_str(value, "completion")
        messages = [{"role": "user", "content": prompt.strip()}, {"role": "assistant", "content": completion.strip()}]
        return Example(messages=messages, id=_id(value))


class Alpaca:
    name = "alpaca"
    description = "Alpaca JSONL: 'instruction', optional 'input', 'output' (optional 'system')"

    def detect(self, value: Any) -> bool:
        return isinstance(value, dict) and "instruction" in value and "output" in value

    def parse(self, value: Any) -> Example:
        value = _object(value)
        instruction = require_str(value, "instruction")
        extra = require_str(value, "input", allow_empty=True) if "input" in value else ""
        output = require_str(value, "output")
        user = f"{instruction.strip()}\n\n{extra.strip()}" if extra.strip() else instruction.strip()
        messages = [{"role": "user", "content": user}, {"role": "assistant", "content": output.strip()}]
        if value.get("system"):
            messages.insert(0, {"role": "system", "content": require_str(value, "system")})
        return Example(messages=messages, id=_id(value))


SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "model": "assistant",
    "system": "system",
    "tool": "tool",
    "function_response": "tool",
    "observation": "tool",
}


class ShareGPT:
    name = "sharegpt"
    description = "ShareGPT JSONL: 'conversations' of {'from': human|gpt|system, 'value': ...}"

    def detect(self, value: Any) -> bool:
        return isinstance(value, dict) and "conversations" in value

    def parse(self, value: Any) -> Example:
        value = _object(value)
        turns = value.get("conversations")
        if not isinstance(turns, list) or not turns:
            raise RecordProblem("missing_messages_list", "'conversations' must be a non-empty list", "conversations")
        messages = []
        for i, turn in enumerate(turns):
            at = f"conversations[{i}]"
            if not isinstance(turn, dict):
                raise RecordProblem("wrong_data_type", "each turn must be an object", at)
            speaker = turn.get("from")
            if speaker not in SHAREGPT_ROLES:
                raise RecordProblem("unrecognized_role", f"unrecognized speaker {speaker!r}", f"{at}.from")
            text = turn.get("value")
            if not isinstance(text, str):
                raise RecordProblem("message_missing_key", "turn has no string 'value'", f"{at}.value")
            messages.append({"role": SHAREGPT_ROLES[speaker], "content": text})
        check_messages(messages, "conversations")  # indexes in errors match the file's turns
        if "system" in value and isinstance(value["system"], str) and value["system"].strip():
            messages.insert(0, {"role": "system", "content": value["system"]})
        return Example(messages=messages, tools=value.get("tools"), id=_id(value))


def _id(value: dict[str, Any]) -> str | None:
    return None if value.get("id") is None else str(value["id"])
