"""What fits train.max_length: preference rows measured as TRL tokenizes them, set aside with reasons, and one
clear error when nothing is left (the trainers' own agreement is checked end to end in tests/e2e/test_training.py).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tunesmith.core.errors import DataError
from tunesmith.train.lengths import fit_pairs, fitting, preference_row, require_rows
from tunesmith.train.preference import load_pairs

REPO = Path(__file__).resolve().parents[2]
SYSTEM = {"role": "system", "content": "You are Northwind Outfitters' customer support assistant."}
LONG_ANSWER = "Thanks for writing in. " * 30


def pair(question: str, chosen: str, rejected: str = "No.", **extra: Any) -> dict[str, Any]:
    return {
        "prompt": [SYSTEM, {"role": "user", "content": question}],
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
        **extra,
    }


def length(tokenizer: Any, messages: list[dict[str, Any]], **kwargs: Any) -> int:
    return len(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, **kwargs)["input_ids"])


def test_dpo_sets_aside_a_pair_whose_prompt_fills_max_length_and_counts_the_cut_ones(bundled_tokenizer: Any) -> None:
    short = pair("Where is my order?", "It ships today.", where="preference_train.jsonl:1")
    cut = pair("Where is my order?", LONG_ANSWER, where="preference_train.jsonl:2", id="prefs.jsonl:2")
    wordy = pair("Where is my order? " * 40, "It ships today.", where="preference_train.jsonl:3")
    prompt = length(bundled_tokenizer, short["prompt"], add_generation_prompt=True)
    max_length = prompt + 20
    fitted = fit_pairs(bundled_tokenizer, [short, cut, wordy], "dpo", max_length, "train")
    assert [r["chosen"][0]["content"] for r in fitted.rows] == ["It ships today.", LONG_ANSWER]
    assert set(fitted.rows[0]) == {"prompt", "chosen", "rejected"}  # TRL's conversational row, nothing else
    assert fitted.truncated == 1
    [aside] = fitted.skipped
    wordy_prompt = length(bundled_tokenizer, wordy["prompt"], add_generation_prompt=True)
    assert aside["where"] == "preference_train.jsonl:3" and aside["split"] == "train"
    assert aside["reason"] == f"prompt of {wordy_prompt} tokens fills train.max_length={max_length}"
    # what it would take to train the whole pair
    assert aside["tokens"] == length(bundled_tokenizer, wordy["prompt"] + wordy["chosen"])


def test_kto_judges_each_side_on_its_own(bundled_tokenizer: Any) -> None:
    fits = pair("Where is my order?", "It ships today.")
    wordy = pair("Where is my order? " * 40, "It ships today.", where="preference_train.jsonl:2")
    fitted = fit_pairs(bundled_tokenizer, [fits, wordy], "kto", 120, "val")
    assert [(r["completion"][0]["content"], r["label"]) for r in fitted.rows] == [
        ("It ships today.", True),
        ("No.", False),
    ]
    assert [s["reason"].rsplit("(", 1)[1] for s in fitted.skipped] == ["desirable answer)", "undesirable answer)"]
    assert {s["split"] for s in fitted.skipped} == {"val"}


def test_reward_drops_a_pair_when_either_side_is_longer(bundled_tokenizer: Any) -> None:
    fits = pair("Where is my order?", "It ships today.")
    long_rejected = pair("Where is my order?", "It ships today.", rejected=LONG_ANSWER)
    whole = length(bundled_tokenizer, long_rejected["prompt"] + long_rejected["rejected"])
    fitted = fit_pairs(bundled_tokenizer, [fits, long_rejected], "reward", whole - 1, "train")
    assert len(fitted.rows) == 1 and fitted.truncated == 0
    assert fitted.skipped == [
        {"split": "train", "reason": f"{whole} tokens > train.max_length={whole - 1}", "tokens": whole}
    ]


def test_tools_are_measured_and_travel_with_the_row(bundled_tokenizer: Any) -> None:
    tokenizer = copy.deepcopy(bundled_tokenizer)
    tokenizer.chat_template = (REPO / "examples" / "order-tools" / "chat_template.jinja").read_text()
    tools = json.loads((REPO / "examples" / "order-tools" / "data" / "conversations.jsonl").read_text().split("\n")[0])
    tools = tools["tools"]
    with_tools = pair("Where is order NW-1?", "It ships today.", tools=tools)
    declared = length(tokenizer, with_tools["prompt"], add_generation_prompt=True, tools=tools)
    bare = length(tokenizer, with_tools["prompt"], add_generation_prompt=True)
    assert declared > bare + 20  # the declarations are part of what has to fit
    aside = fit_pairs(tokenizer, [with_tools], "dpo", bare + 10, "train")
    assert aside.rows == [] and aside.skipped[0]["reason"].startswith(f"prompt of {declared} tokens")
    [row] = fit_pairs(tokenizer, [with_tools], "dpo", declared + 64, "train").rows
    # JSON text: one column type for every row, whatever each tool's schema; TRL reads it back
    assert json.loads(row["tools"]) == tools and row == preference_row(with_tools)


def test_load_pairs_says_where_each_pair_came_from_and_keeps_its_tools(tmp_path: Path) -> None:
    record = {
        "input": {"messages": [{"role": "user", "content": "Hi"}], "tools": [{"type": "function"}]},
        "preferred_output": [{"role": "assistant", "content": "Hello!"}],
        "non_preferred_output": [{"role": "assistant", "content": "No."}],
    }
    lines = [record, {k: v for k, v in record.items()} | {"id": "prefs.jsonl:7", "input": {"messages": []}}]
    (tmp_path / "preference_train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    train, val = load_pairs(tmp_path)
    assert val == [] and [p["where"] for p in train] == ["preference_train.jsonl:1", "preference_train.jsonl:2"]
    assert train[0]["tools"] == [{"type": "function"}] and "tools" not in train[1]
    assert train[1]["id"] == "prefs.jsonl:7"
    (tmp_path / "preference_train.jsonl").write_text("")
    with pytest.raises(DataError) as err:
        load_pairs(tmp_path)
    assert err.value.render().startswith(f"{tmp_path / 'preference_train.jsonl'}: the training split has no")


def test_the_dry_run_is_sized_on_what_sft_keeps() -> None:
    # an example longer than max_length, or with nothing trained, is set aside by training: not in the estimate
    lengths, trained, aside = fitting([100, 900, 300, 50], [40, 300, 0, 10], 512)
    assert (lengths, trained, aside) == ([100, 50], [40, 10], [900, 300])


def test_nothing_left_is_one_error_with_the_length_that_would_do(tmp_path: Path) -> None:
    listed = tmp_path / "skipped.jsonl"
    skipped = [{"reason": "x", "tokens": 300}, {"reason": "y", "tokens": 120}, {"reason": "no trained tokens"}]
    require_rows([{"input_ids": [1]}], 3, skipped, what="examples", max_length=64, where=str(listed))  # rows left: fine
    with pytest.raises(DataError) as err:
        require_rows([], 3, skipped, what="examples", max_length=64, where=str(listed))
    text = err.value.render()
    assert text.startswith(
        f"{listed}: none of the 3 training examples can be trained on (2 longer than train.max_length=64, "
        "1 with nothing to train)"
    )
    assert "at least 120 (the shortest; the longest needs 300)" in text
    with pytest.raises(DataError) as err:
        require_rows([], 1, [{"reason": "no trained tokens"}], what="examples", max_length=64, where=str(listed))
    assert "(1 with nothing to train)" in err.value.render() and "weight of 1" in err.value.render()
