"""Validate chat fine-tuning data (OpenAI chat JSONL) before any GPU time is spent on it.

Covers the error classes of OpenAI's own data-preparation checks (wrong data
type, missing messages list, message missing key, unrecognized key,
unrecognized role, missing content, no assistant message) plus the ones that
sink fine-tunes in practice: files that are empty or not UTF-8, lines that are
not JSON, exact duplicates, examples longer than the model's context after its
chat template, too few examples, and inconsistent system prompts.

Every problem carries file, line and field. Reading streams line by line, so
memory does not grow with the file.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tunesmith.data.jsonl import iter_jsonl

ROLES = {"system", "user", "assistant", "tool", "developer", "function"}
MESSAGE_KEYS = {"role", "content", "name", "weight", "tool_calls", "tool_call_id", "function_call", "refusal"}
RECORD_KEYS = {"messages", "tools", "functions", "parallel_tool_calls", "id", "metadata", "meta"}
MIN_EXAMPLES = 10
RECOMMENDED_EXAMPLES = 50


@dataclass
class Problem:
    severity: str  # "error" | "warning"
    code: str
    message: str
    file: str
    line: int | None = None
    field: str | None = None

    def render(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        at = f" [{self.field}]" if self.field else ""
        return f"{where}:{at} {self.severity}: {self.message} ({self.code})"


@dataclass
class Report:
    files: list[str] = field(default_factory=list)
    examples: int = 0
    problems: list[Problem] = field(default_factory=list)
    unusable: bool = False  # nothing could be read at all: exit code 2

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def exit_code(self) -> int:
        if self.unusable:
            return 2
        return 1 if self.errors else 0

    def to_dict(self) -> dict[str, Any]:
        counts = Counter(p.code for p in self.problems)
        return {
            "files": self.files,
            "examples": self.examples,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "by_code": dict(counts),
            "exit_code": self.exit_code,
            "problems": [asdict(p) for p in self.problems],
        }


def check_record(value: Any) -> list[tuple[str, str | None, str]]:
    """Structural problems of one chat record: (code, field, message)."""
    if not isinstance(value, dict):
        return [("wrong_data_type", None, f"expected a JSON object, got {type(value).__name__}")]
    if "messages" not in value:
        hint = _guess_format(value)
        if hint:
            return [("wrong_format", None, f"this looks like a {hint} record, not a chat record with 'messages'")]
        return [("missing_messages_list", "messages", "record has no 'messages' list")]
    messages = value["messages"]
    if not isinstance(messages, list) or not messages:
        return [("missing_messages_list", "messages", "'messages' must be a non-empty list")]
    problems: list[tuple[str, str | None, str]] = []
    for key in value:
        if key not in RECORD_KEYS:
            problems.append(("unrecognized_key", key, f"unrecognized key '{key}'"))
    has_assistant = False
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            problems.append(("wrong_data_type", where, "each message must be an object"))
            continue
        for key in ("role", "content"):
            if key not in message and not (
                key == "content" and ("tool_calls" in message or "function_call" in message)
            ):
                problems.append(("message_missing_key", f"{where}.{key}", f"message has no '{key}'"))
        for key in message:
            if key not in MESSAGE_KEYS:
                problems.append(("message_unrecognized_key", f"{where}.{key}", f"unrecognized message key '{key}'"))
        role = message.get("role")
        if "role" in message and role not in ROLES:
            problems.append(("unrecognized_role", f"{where}.role", f"unrecognized role {role!r}"))
        content = message.get("content")
        if "content" in message:
            if content is not None and not isinstance(content, (str, list)):
                problems.append(("wrong_data_type", f"{where}.content", "content must be a string"))
            elif not content and not message.get("tool_calls") and not message.get("function_call"):
                problems.append(("missing_content", f"{where}.content", "message content is empty"))
        if "weight" in message and message["weight"] not in (0, 1):
            problems.append(("invalid_weight", f"{where}.weight", "weight must be 0 or 1"))
        if "weight" in message and role != "assistant":
            problems.append(("invalid_weight", f"{where}.weight", "weight is only allowed on assistant messages"))
        if role == "assistant":
            has_assistant = True
    if not has_assistant:
        problems.append(("no_assistant_message", "messages", "no assistant message to learn from"))
    return problems


def _guess_format(value: dict[str, Any]) -> str | None:
    if "preferred_output" in value or "preferred_completion" in value:
        return "preference (DPO)"
    if "instruction" in value and "output" in value:
        return "Alpaca"
    if "conversations" in value:
        return "ShareGPT"
    if "prompt" in value and "completion" in value:
        return "prompt/completion"
    return None


def system_prompt_of(value: dict[str, Any]) -> str | None:
    for message in value.get("messages", []):
        if isinstance(message, dict) and message.get("role") == "system":
            return str(message.get("content"))
    return None


def validate_files(
    paths: list[Path],
    *,
    count_tokens: Callable[[list[dict[str, Any]]], int] | None = None,
    max_tokens: int | None = None,
) -> Report:
    """Validate chat JSONL files. ``count_tokens`` renders a chat through the model's template."""
    report = Report(files=[str(p) for p in paths])
    seen: dict[str, tuple[str, int]] = {}
    systems: Counter[str | None] = Counter()
    first_system_line: dict[str | None, tuple[str, int]] = {}
    readable = 0
    for path in paths:
        name = str(path)
        if not path.is_file():
            report.problems.append(Problem("error", "file_not_found", "file not found", name))
            continue
        if path.stat().st_size == 0:
            report.problems.append(Problem("error", "empty_file", "file is empty", name))
            continue
        readable += 1
        lines = 0
        for line in iter_jsonl(path):
            lines += 1
            if line.error:
                code = "invalid_utf8" if "UTF-8" in line.error else "invalid_json"
                report.problems.append(Problem("error", code, line.error, name, line.number))
                continue
            report.examples += 1
            problems = check_record(line.value)
            for code, fld, message in problems:
                report.problems.append(Problem("error", code, message, name, line.number, fld))
            if problems:
                continue
            digest = hashlib.sha256(json.dumps(line.value["messages"], sort_keys=True).encode()).hexdigest()
            if digest in seen:
                first = seen[digest]
                report.problems.append(
                    Problem("error", "duplicate", f"exact duplicate of {first[0]}:{first[1]}", name, line.number)
                )
            else:
                seen[digest] = (name, line.number)
            system = system_prompt_of(line.value)
            systems[system] += 1
            first_system_line.setdefault(system, (name, line.number))
            if count_tokens is not None and max_tokens is not None:
                n = count_tokens(line.value["messages"])
                if n > max_tokens:
                    report.problems.append(
                        Problem(
                            "error",
                            "too_long",
                            f"{n} tokens after the chat template, over the maximum of {max_tokens}",
                            name,
                            line.number,
                            "messages",
                        )
                    )
        if lines == 0:
            report.problems.append(Problem("error", "empty_file", "file has no examples (only blank lines)", name))
    if readable == 0:
        report.unusable = True
        return report
    target = ", ".join(report.files)
    valid = report.examples
    if valid < MIN_EXAMPLES:
        report.problems.append(
            Problem("error", "too_few_examples", f"{valid} examples; at least {MIN_EXAMPLES} are needed", target)
        )
    elif valid < RECOMMENDED_EXAMPLES:
        report.problems.append(
            Problem(
                "warning",
                "few_examples",
                f"{valid} examples; {RECOMMENDED_EXAMPLES} or more usually give clearly better results",
                target,
            )
        )
    if len(systems) > 1:
        common, count = systems.most_common(1)[0]
        for system, n in systems.items():
            if system == common:
                continue
            file, line_no = first_system_line[system]
            label = "no system prompt" if system is None else f"system prompt {system[:40]!r}"
            report.problems.append(
                Problem(
                    "warning",
                    "inconsistent_system_prompt",
                    f"{n} examples use {label} while {count} use the most common one; "
                    "the model learns whatever mix it sees",
                    file,
                    line_no,
                    "messages[0]",
                )
            )
    return report
