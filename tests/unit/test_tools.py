"""Tool calling: OpenAI-format validation, rendering through a tools template with the loss on the assistant's
calls and answers only, the call format read from the template, output parsing, and the tool-use metrics."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.conftest import REPO
from tunesmith.core.errors import DataError
from tunesmith.data.formats.openai import OpenAIChat
from tunesmith.data.records import RecordProblem
from tunesmith.data.template import tokenize_chat
from tunesmith.data.tools import call_format, may_become_call, parse_tool_calls, supports_tools

EXAMPLE = REPO / "examples" / "order-tools"
CONVERSATIONS = [json.loads(line) for line in (EXAMPLE / "data" / "conversations.jsonl").read_text().splitlines()]
CALLING = next(c for c in CONVERSATIONS if any(m.get("tool_calls") for m in c["messages"]))


@pytest.fixture(scope="module")
def tool_tokenizer(bundled_tokenizer: Any) -> Any:
    tokenizer = copy.deepcopy(bundled_tokenizer)
    tokenizer.chat_template = (EXAMPLE / "chat_template.jinja").read_text()
    return tokenizer


def _problem(record: dict[str, Any]) -> RecordProblem:
    with pytest.raises(RecordProblem) as err:
        OpenAIChat().parse(record)
    return err.value


def test_every_example_conversation_is_valid_and_broken_calls_are_rejected_with_the_field() -> None:
    for record in CONVERSATIONS:
        OpenAIChat().parse(record)
    call_at = next(i for i, m in enumerate(CALLING["messages"]) if m.get("tool_calls"))

    def broken(change: Any) -> dict[str, Any]:
        record = copy.deepcopy(CALLING)
        change(record)
        return record

    def set_args(value: str) -> Any:
        return lambda r: r["messages"][call_at]["tool_calls"][0]["function"].__setitem__("arguments", value)

    cases = [
        (broken(lambda r: r.pop("tools")), "tool_calls_without_tools", "tools"),
        (
            broken(lambda r: r["messages"][call_at]["tool_calls"][0]["function"].__setitem__("name", "refund_all")),
            "unknown_function",
            f"messages[{call_at}].tool_calls[0].function.name",
        ),
        (broken(set_args("{not json")), "invalid_tool_arguments", f"messages[{call_at}].tool_calls[0].function"),
        (
            broken(set_args('{"order_id": "12"}')),
            "invalid_tool_arguments",
            f"messages[{call_at}].tool_calls[0].function.arguments",
        ),
        (
            broken(lambda r: r["messages"][call_at + 1].__setitem__("tool_call_id", "call_x")),
            "unanswered_tool_result",
            f"messages[{call_at + 1}].tool_call_id",
        ),
        (broken(lambda r: r["tools"].append(r["tools"][0])), "invalid_tools", "tools[2]"),
        (broken(lambda r: r["tools"][0]["function"].__setitem__("name", "bad name")), "invalid_tools", "tools[0]"),
    ]
    for record, code, field in cases:
        problem = _problem(record)
        assert (problem.code, problem.field) == (code, field), problem.message
    assert "does not match" in _problem(cases[3][0]).message  # the schema's own words say why


def test_loss_is_on_the_calls_and_answers_never_on_tools_or_results(tool_tokenizer: Any) -> None:
    tokenized = tokenize_chat(tool_tokenizer, CALLING["messages"], CALLING["tools"])
    trained = tool_tokenizer.decode([t for t in tokenized.labels if t != -100])
    call = CALLING["messages"][2]["tool_calls"][0]["function"]
    answer = CALLING["messages"][4]["content"]
    assert trained == (
        f'<tool_call>\n{{"name": "{call["name"]}", "arguments": {call["arguments"]}}}\n</tool_call><|im_end|>\n'
        f"{answer}<|im_end|>\n"
    )
    assert "<tools>" not in trained and "tool_response" not in trained and "NW" in trained


def test_a_template_that_drops_tools_is_refused_with_the_fix(bundled_tokenizer: Any) -> None:
    assert not supports_tools(bundled_tokenizer)  # SmolLM2's own template ignores `tools`
    with pytest.raises(DataError) as err:
        tokenize_chat(bundled_tokenizer, CALLING["messages"], CALLING["tools"])
    assert "does not show tools" in err.value.what and "chat_template:" in (err.value.fix or "")


def test_call_format_is_read_from_the_template_and_outputs_parse(tool_tokenizer: Any) -> None:
    fmt = call_format(tool_tokenizer)
    assert (fmt.prefix, fmt.suffix, fmt.name_key, fmt.args_key) == (
        "<tool_call>\n",
        "\n</tool_call>",
        "name",
        "arguments",
    )
    names = {"get_order_status", "cancel_order"}
    text = (
        'Let me check.\n<tool_call>\n{"name": "get_order_status", "arguments": {"order_id": "NW000001"}}\n</tool_call>'
    )
    parsed = parse_tool_calls(text, fmt, names)
    assert parsed.content == "Let me check." and parsed.warning is None
    ((call),) = parsed.calls
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"] == {"name": "get_order_status", "arguments": '{"order_id": "NW000001"}'}
    two = (
        text
        + '\n<tool_call>\n{"name": "cancel_order", "arguments": {"order_id": "NW1", "reason": "too_slow"}}\n</tool_call>'
    )
    assert [c["function"]["name"] for c in parse_tool_calls(two, fmt, names).calls] == [
        "get_order_status",
        "cancel_order",
    ]
    for bad, why in (
        ("<tool_call>\n{'name': 'x'}", "not valid JSON"),
        ('<tool_call>\n{"name": "drop_tables", "arguments": {}}', "do not declare"),
        ('<tool_call>\n{"name": "cancel_order", "arguments": [1]}', "not a JSON object"),
    ):
        parsed = parse_tool_calls(bad, fmt, names)
        assert parsed.calls == [] and parsed.content == bad and why in (parsed.warning or "")
    assert parse_tool_calls("Plain answer.", fmt, names).calls == []
    forced = fmt.forced_start("cancel_order")
    assert forced == '<tool_call>\n{"name": "cancel_order'
    # streaming: hold back what may still become a call
    assert may_become_call("Sure <tool", fmt) and may_become_call("x <tool_call>\n{", fmt)
    assert not may_become_call("Sure, order NW1 shipped.", fmt)


def test_tool_metrics_compare_the_first_call_with_the_reference() -> None:
    from tunesmith.eval.metrics.base import MetricContext
    from tunesmith.eval.metrics.tools import ToolArgsMatch, ToolArgsValid, ToolName
    from tunesmith.models.generation import Generation

    schema = {"type": "object", "properties": {"order_id": {"type": "string", "pattern": "^NW[0-9]{6}$"}}}
    ref = [{"function": {"name": "get_order_status", "arguments": '{"order_id": "NW000001"}'}}]

    def gen(name: str | None, args: str = "{}") -> Generation:
        calls = [{"type": "function", "function": {"name": name, "arguments": args}}] if name else None
        return Generation("", 1, 1, "stop", 0.0, tool_calls=calls)

    generations = [
        gen("get_order_status", '{"order_id": "NW000001"}'),  # right call, right arguments
        gen("get_order_status", '{"order_id": "NW9"}'),  # right function, invalid argument
        gen("cancel_order", "{}"),  # wrong function
        gen(None),  # no call where one was needed
        gen(None),  # no call, and the reference answered in words: right
        gen(None),  # a conversation without tools: not applicable
    ]
    ctx = MetricContext(
        inputs=[""] * 6,
        contexts=[[]] * 6,
        generations=generations,
        extra={
            "tool_reference": [ref, ref, ref, ref, [], None],
            "tool_schemas": [{"get_order_status": schema, "cancel_order": None}] * 5 + [None],
        },
    )
    outs = [""] * 6

    def values(metric: Any) -> list[float | None]:
        return [None if v != v else v for v in metric.score(outs, outs, ctx)]

    assert values(ToolName()) == [1.0, 1.0, 0.0, 0.0, 1.0, None]
    assert values(ToolArgsValid()) == [1.0, 0.0, 1.0, None, None, None]
    assert values(ToolArgsMatch()) == [1.0, 0.0, 0.0, None, None, None]
