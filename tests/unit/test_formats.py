"""Every reader normalizes to the same internal record; writers round-trip to OpenAI's formats."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tunesmith.data.formats.read import read_items
from tunesmith.data.formats.write import write_openai

USER, ASSISTANT = "Where is my order?", "It ships today."
EXPECTED = [{"role": "user", "content": USER}, {"role": "assistant", "content": ASSISTANT}]


def jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def only(path: Path, **kw):  # type: ignore[no-untyped-def]
    items = list(read_items(path, **kw))
    assert len(items) == 1 and items[0].example is not None, [(i.code, i.message) for i in items]
    return items[0].example


@pytest.mark.parametrize(
    ("record", "fmt"),
    [
        ({"messages": EXPECTED}, "openai-chat"),
        ({"prompt": USER, "completion": ASSISTANT}, "prompt-completion"),
        ({"instruction": USER, "input": "", "output": ASSISTANT}, "alpaca"),
        ({"conversations": [{"from": "human", "value": USER}, {"from": "gpt", "value": ASSISTANT}]}, "sharegpt"),
    ],
)
def test_chat_formats_normalize_alike(tmp_path: Path, record: dict, fmt: str) -> None:
    example = only(jsonl(tmp_path / "d.jsonl", [record]))
    assert example.messages == EXPECTED
    assert example.meta["source"]["format"] == fmt


def test_alpaca_input_and_system(tmp_path: Path) -> None:
    record = {"instruction": "Translate", "input": "bonjour", "output": "hello", "system": "Be exact."}
    example = only(jsonl(tmp_path / "a.jsonl", [record]))
    assert example.messages[0] == {"role": "system", "content": "Be exact."}
    assert example.messages[1]["content"] == "Translate\n\nbonjour"


def test_sharegpt_system_turn_and_weights_on_openai(tmp_path: Path) -> None:
    record = {
        "conversations": [
            {"from": "system", "value": "Be kind."},
            {"from": "human", "value": "hi"},
            {"from": "gpt", "value": "hello"},
        ]
    }
    assert only(jsonl(tmp_path / "s.jsonl", [record])).messages[0]["role"] == "system"
    weighted = {
        "messages": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b", "weight": 0},
            {"role": "user", "content": "c"},
            {"role": "assistant", "content": "d", "weight": 1},
        ],
        "tools": [{"type": "function", "function": {"name": "lookup"}}],
    }
    example = only(jsonl(tmp_path / "w.jsonl", [weighted]))
    assert example.messages[1]["weight"] == 0 and example.tools


@pytest.mark.parametrize(
    ("chosen_key", "rejected_key"),
    [("preferred_output", "non_preferred_output"), ("preferred_completion", "non_preferred_completion")],
)
def test_preference_both_spellings(tmp_path: Path, chosen_key: str, rejected_key: str) -> None:
    record = {
        "input": {"messages": [{"role": "user", "content": USER}]},
        chosen_key: [{"role": "assistant", "content": "good"}],
        rejected_key: [{"role": "assistant", "content": "bad"}],
    }
    example = only(jsonl(tmp_path / "p.jsonl", [record]))
    assert example.kind == "preference"
    assert example.chosen == [{"role": "assistant", "content": "good"}]
    assert example.rejected == [{"role": "assistant", "content": "bad"}]


def test_csv_and_tsv_with_a_column_mapping(tmp_path: Path) -> None:
    for name, delimiter in (("d.csv", ","), ("d.tsv", "\t")):
        path = tmp_path / name
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle, delimiter=delimiter)
            writer.writerow(["q", "a", "sys"])
            writer.writerow([USER, ASSISTANT, ""])
        example = only(path, columns={"input": "q", "output": "a", "system": "sys"})
        assert example.messages == EXPECTED


def test_csv_missing_column_is_located(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("q,answer\nhello,world\n")
    items = list(read_items(path, columns={"input": "q", "output": "a"}))
    assert items[0].code == "missing_column" and items[0].line == 2


def test_parquet_and_saved_dataset(tmp_path: Path) -> None:
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"question": [USER], "answer": [ASSISTANT]}), tmp_path / "d.parquet")
    assert only(tmp_path / "d.parquet", columns={"input": "question", "output": "answer"}).messages == EXPECTED
    datasets.Dataset.from_list([{"messages": EXPECTED}]).save_to_disk(str(tmp_path / "saved"))
    assert only(tmp_path / "saved").messages == EXPECTED


def test_forced_format_and_mixed_file(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "m.jsonl", [{"messages": EXPECTED}, {"prompt": "x", "completion": "y"}])
    items = list(read_items(path))
    assert items[0].example is not None
    assert items[1].code == "wrong_format" and "prompt-completion record in a openai-chat file" in items[1].message
    forced = list(read_items(path, format="prompt-completion"))
    assert forced[0].code == "wrong_format" and forced[1].example is not None


def test_writers_round_trip(tmp_path: Path) -> None:
    chat = {"messages": EXPECTED}
    pref = {
        "input": {"messages": [{"role": "user", "content": USER}]},
        "preferred_output": [{"role": "assistant", "content": "good"}],
        "non_preferred_output": [{"role": "assistant", "content": "bad"}],
    }
    for record, name in ((chat, "chat"), (pref, "pref")):
        source = jsonl(tmp_path / f"{name}.jsonl", [record])
        out = tmp_path / f"{name}.out.jsonl"
        assert write_openai([only(source)], out, keep_ids=False) == 1
        assert json.loads(out.read_text()) == record


text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40).filter(str.strip)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(turns=st.lists(st.tuples(text, text), min_size=1, max_size=4), fmt=st.sampled_from(["openai", "sharegpt"]))
def test_readers_preserve_any_conversation(tmp_path: Path, turns: list[tuple[str, str]], fmt: str) -> None:
    messages = []
    for user, assistant in turns:
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    if fmt == "openai":
        record = {"messages": messages}
    else:
        record = {
            "conversations": [
                {"from": "human" if m["role"] == "user" else "gpt", "value": m["content"]} for m in messages
            ]
        }
    path = jsonl(tmp_path / f"h-{fmt}.jsonl", [record])
    assert only(path).messages == messages
    out = tmp_path / "h-out.jsonl"
    write_openai([only(path)], out, keep_ids=False)
    assert only(out).messages == messages


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "messages",
                        "role",
                        "content",
                        "prompt",
                        "completion",
                        "instruction",
                        "output",
                        "conversations",
                        "from",
                        "value",
                        "input",
                        "preferred_output",
                    ]
                ),
                children,
                max_size=4,
            )
        ),
        max_leaves=12,
    )
)
def test_any_json_value_gives_an_example_or_a_located_problem(tmp_path: Path, value: object) -> None:
    path = tmp_path / "fuzz.jsonl"
    path.write_text(json.dumps(value) + "\n")
    for item in read_items(path):
        assert (item.example is None) == (item.code is not None)
        assert item.line == 1
