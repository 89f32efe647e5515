"""Chat-data validation: every problem located, exit codes by severity, no traceback on any bytes."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tunesmith.data.validate import validate_files


def chat(i: int, system: str | None = "Be brief.") -> dict:
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": f"question {i}"},
        {"role": "assistant", "content": f"answer {i}"},
    ]
    return {"messages": messages}


def write_lines(path: Path, lines: list[str | bytes]) -> Path:
    data = b"".join((line if isinstance(line, bytes) else line.encode()) + b"\n" for line in lines)
    path.write_bytes(data)
    return path


def good_lines(n: int) -> list[str]:
    return [json.dumps(chat(i)) for i in range(n)]


def codes(report) -> list[str]:  # type: ignore[no-untyped-def]
    return [p.code for p in report.problems]


def test_clean_file_passes_with_only_the_size_warning(tmp_path: Path) -> None:
    report = validate_files([write_lines(tmp_path / "a.jsonl", good_lines(20))])
    assert report.exit_code == 0
    assert codes(report) == ["few_examples"]


def test_each_openai_error_class_is_reported_with_line_and_field(tmp_path: Path) -> None:
    bad = [
        json.dumps([1, 2]),  # wrong_data_type
        json.dumps({"prompt": "x"}),  # missing_messages_list
        json.dumps({"messages": [{"content": "x"}, {"role": "assistant", "content": "y"}]}),  # message_missing_key
        json.dumps(
            {"messages": [{"role": "user", "content": "x", "mood": 1}, {"role": "assistant", "content": "y"}]}
        ),  # message_unrecognized_key
        json.dumps({"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]}),
        json.dumps({"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "y"}]}),
        json.dumps({"messages": [{"role": "user", "content": "only a question"}]}),  # no_assistant_message
        json.dumps({"instruction": "do", "output": "done"}),  # wrong_format (Alpaca)
        "{not json",  # invalid_json
        b"\xff\xfe garbage",  # invalid_utf8
    ]
    report = validate_files([write_lines(tmp_path / "b.jsonl", good_lines(12) + bad)])
    found = {(p.code, p.line) for p in report.problems}
    for code, line in [
        ("wrong_data_type", 13),
        ("missing_messages_list", 14),
        ("message_missing_key", 15),
        ("message_unrecognized_key", 16),
        ("unrecognized_role", 17),
        ("missing_content", 18),
        ("no_assistant_message", 19),
        ("wrong_format", 20),
        ("invalid_json", 21),
        ("invalid_utf8", 22),
    ]:
        assert (code, line) in found, (code, line, sorted(found))
    assert report.exit_code == 1
    field = next(p for p in report.problems if p.code == "unrecognized_role").field
    assert field == "messages[0].role"


def test_duplicates_and_inconsistent_system_prompts(tmp_path: Path) -> None:
    lines = good_lines(12) + [json.dumps(chat(3)), json.dumps(chat(100, system="Be verbose."))]
    report = validate_files([write_lines(tmp_path / "c.jsonl", lines)])
    dup = next(p for p in report.problems if p.code == "duplicate")
    assert dup.line == 13 and "c.jsonl:4" in dup.message
    assert "inconsistent_system_prompt" in codes(report)


def test_too_few_examples_is_an_error(tmp_path: Path) -> None:
    report = validate_files([write_lines(tmp_path / "d.jsonl", good_lines(5))])
    assert "too_few_examples" in codes(report) and report.exit_code == 1


def test_empty_and_missing_files_are_unusable(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    report = validate_files([empty, tmp_path / "missing.jsonl"])
    assert report.exit_code == 2
    assert set(codes(report)) == {"empty_file", "file_not_found"}


def test_bom_and_crlf_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(line.encode() for line in good_lines(12)) + b"\r\n")
    assert validate_files([path]).exit_code == 0


def test_too_long_with_a_token_counter(tmp_path: Path) -> None:
    lines = good_lines(11) + [
        json.dumps({"messages": [{"role": "user", "content": "word " * 50}, {"role": "assistant", "content": "ok"}]})
    ]
    report = validate_files(
        [write_lines(tmp_path / "f.jsonl", lines)],
        count_tokens=lambda messages, tools=None: sum(len(m["content"].split()) for m in messages),
        max_tokens=20,
    )
    assert [(p.code, p.line) for p in report.problems if p.code == "too_long"] == [("too_long", 12)]


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_give_a_report_not_a_crash(tmp_path_factory, blob: bytes) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("fuzz") / "x.jsonl"
    path.write_bytes(blob)
    report = validate_files([path])
    assert report.exit_code in (0, 1, 2)
