"""A corpus of broken files: each ends in a clear, located error, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tunesmith.data.validate import validate_files

GOOD = json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})


def good_lines(n: int) -> list[str]:
    return [
        json.dumps({"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]})
        for i in range(n)
    ]


CORPUS: dict[str, tuple[bytes, set[str]]] = {
    "truncated.jsonl": (("\n".join(good_lines(11)) + "\n" + GOOD[:-7]).encode(), {"invalid_json"}),
    "wrong_types.jsonl": (
        (
            "\n".join(good_lines(11))
            + "\n"
            + json.dumps({"messages": "hello"})
            + "\n"
            + json.dumps({"messages": [{"role": "user", "content": 7}, {"role": "assistant", "content": "a"}]})
        ).encode(),
        {"missing_messages_list", "wrong_data_type"},
    ),
    "garbage.jsonl": (bytes(range(256)) * 40, {"invalid_utf8", "invalid_json"}),
    "bom_crlf.jsonl": (b"\xef\xbb\xbf" + "\r\n".join(good_lines(12)).encode() + b"\r\n", set()),
    "mixed.jsonl": (
        (
            "\n".join(good_lines(11))
            + "\n"
            + json.dumps({"prompt": "p", "completion": "c"})
            + "\n"
            + json.dumps({"instruction": "i", "output": "o"})
        ).encode(),
        {"wrong_format"},
    ),
    "only_blank_lines.jsonl": (b"\n\n   \n", {"empty_file"}),
    "top_level_array.jsonl": (json.dumps([json.loads(GOOD)] * 12).encode(), {"wrong_data_type"}),
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_file_gives_expected_codes(tmp_path: Path, name: str) -> None:
    content, expected = CORPUS[name]
    path = tmp_path / name
    path.write_bytes(content)
    report = validate_files([path])
    codes = {p.code for p in report.problems} - {"few_examples", "too_few_examples"}
    assert expected <= codes, (codes, [p.render() for p in report.problems][:5])
    if not expected:
        assert report.exit_code == 0
    for problem in report.problems:
        assert problem.file == str(path)


def test_fifty_megabyte_single_line(tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl"
    huge = json.dumps(
        {"messages": [{"role": "user", "content": "x" * 50_000_000}, {"role": "assistant", "content": "ok"}]}
    )
    path.write_text("\n".join(good_lines(11) + [huge, "{" + "y" * 50_000_000]) + "\n")
    report = validate_files(
        [path], count_tokens=lambda messages, tools=None: sum(len(m["content"]) for m in messages) // 4, max_tokens=4096
    )
    by_line = {(p.line, p.code) for p in report.problems}
    assert (12, "too_long") in by_line and (13, "invalid_json") in by_line


@pytest.mark.parametrize("name", ["garbage.jsonl", "truncated.jsonl", "mixed.jsonl"])
def test_cli_exit_codes_and_no_traceback(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(CORPUS[name][0])
    result = run_cli("data", "validate", str(path))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{name}:" in result.stderr


def test_cli_unusable_input_exits_2(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    result = run_cli("data", "validate", str(empty), str(tmp_path / "missing.jsonl"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
