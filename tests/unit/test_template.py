"""Loss masks come from the model's own chat template: assistant turns and their end-of-turn token only."""

from __future__ import annotations

import copy

import pytest

from tunesmith.data.stats import TokenStats
from tunesmith.data.template import (
    NotPrefixStable,
    lint_example,
    prompt_ids,
    stop_token_trained,
    tokenize_chat,
    tokenize_turns,
    turn_header,
    turn_starts,
)
from tunesmith.serve import admission


def trained_text(tok, tokenized) -> str:  # type: ignore[no-untyped-def]
    return tok.decode([t for t in tokenized.labels if t != -100])


def two_turns(first: str, second: str) -> list[dict[str, str]]:
    """A customer's two questions and the answers given."""
    return [
        {"role": "user", "content": "Where is my order?"},
        {"role": "assistant", "content": first},
        {"role": "user", "content": "And the invoice?"},
        {"role": "assistant", "content": second},
    ]


def templated(tokenizer, template: str):  # type: ignore[no-untyped-def]
    """A copy of ``tokenizer`` rendering chats with ``template`` (the session's tokenizer stays as it is)."""
    tok = copy.deepcopy(tokenizer)
    tok.chat_template = template
    return tok


def test_only_assistant_turns_and_end_of_turn_are_trained(bundled_tokenizer) -> None:  # type: ignore[no-untyped-def]
    tok = bundled_tokenizer
    messages = [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "Where is my order?"},
        {"role": "assistant", "content": "It ships today."},
    ]
    tokenized = tokenize_chat(tok, messages)
    text = trained_text(tok, tokenized)
    assert text.startswith("It ships today.<|im_end|>")
    assert "Where is my order" not in text and "Be kind" not in text
    assert stop_token_trained(tok, tokenized, [tok.convert_tokens_to_ids("<|im_end|>")])
    # the ids are exactly what the template renders
    rendered = tok.apply_chat_template(messages, tokenize=False)
    assert tok.decode(tokenized.input_ids) == rendered


def test_each_answer_starts_after_the_prompt_generation_sees(bundled_tokenizer) -> None:  # type: ignore[no-untyped-def]
    # answers that begin with blank lines: tokenized with the prompt's last newline, the first token straddled
    # the two ("\n\n" across the cut) and the model learned to answer after a prompt it is never given; and a
    # later turn's prompt holds the earlier answer, which generation must tokenize as training did
    tok = bundled_tokenizer
    messages = two_turns("\n\nIt ships today.", "\n\nIt is attached.")
    tokenized = tokenize_chat(tok, messages)
    starts = [i for i, label in enumerate(tokenized.labels) if label != -100 and tokenized.labels[i - 1] == -100]
    assert len(starts) == 2
    for start, turn in zip(starts, (1, 3), strict=True):
        text = tok.apply_chat_template(messages[:turn], tokenize=False, add_generation_prompt=True)
        assert tokenized.input_ids[:start] == prompt_ids(tok, text)  # exactly the ids generation gives the model
        assert tokenized.input_ids[:start] == admission.prompt_ids(tok, messages[:turn], context=8192)  # the server's
    # tokenized whole, the second prompt reads the first answer differently from how it was trained
    second = tok.apply_chat_template(messages[:3], tokenize=False, add_generation_prompt=True)
    assert tok(second, add_special_tokens=False)["input_ids"] != tokenized.input_ids[: starts[1]]
    assert tok.decode(tokenized.input_ids) == tok.apply_chat_template(messages, tokenize=False)  # nothing lost
    assert trained_text(tok, tokenized).startswith("\n\nIt ships today.<|im_end|>")


def test_turn_starts_follow_the_template_header(bundled_tokenizer) -> None:  # type: ignore[no-untyped-def]
    tok = bundled_tokenizer
    assert turn_header(tok) == "<|im_start|>assistant\n"
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello.", "weight": 0},
        {"role": "user", "content": "Again?"},
    ]
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert [text[s : s + 6] for s in turn_starts(tok, text)] == ["Hello.", ""]
    assert tok.decode(prompt_ids(tok, text)) == text


def test_weight_zero_turns_are_not_trained(bundled_tokenizer) -> None:  # type: ignore[no-untyped-def]
    tok = bundled_tokenizer
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Old bad answer.", "weight": 0},
        {"role": "user", "content": "Again?"},
        {"role": "assistant", "content": "Good answer."},
    ]
    text = trained_text(tok, tokenize_chat(tok, messages))
    assert "Good answer." in text and "Old bad answer" not in text


def test_a_template_that_moves_earlier_turns_trains_each_turn_on_its_own(bundled_tokenizer) -> None:  # type: ignore[no-untyped-def]
    # Mistral's template puts the system prompt in front of the last user message: the first answer's prompt
    # as generation renders it never appears in the whole conversation
    from tests.families import MISTRAL

    tok = templated(bundled_tokenizer, MISTRAL)
    messages = [{"role": "system", "content": "Be brief."}, *two_turns("It ships today.", "It is attached.")]
    with pytest.raises(NotPrefixStable):
        tokenize_chat(tok, messages)
    sequences = tokenize_turns(tok, messages)
    eos = tok.eos_token
    assert [trained_text(tok, t) for t in sequences] == [f" It ships today.{eos}", f" It is attached.{eos}"]
    for tokenized, turn in zip(sequences, (2, 4), strict=True):
        start = next(i for i, label in enumerate(tokenized.labels) if label != -100)
        text = tok.apply_chat_template(messages[:turn], tokenize=False, add_generation_prompt=True)
        assert tokenized.input_ids[:start] == prompt_ids(tok, text)  # each turn after generation's own prompt
    # the data lint and the token statistics see the same sequences
    sequences_linted, findings = lint_example(tok, messages, [tok.eos_token_id])
    assert sequences_linted is not None and len(sequences_linted) == 2 and findings == []
    stats = TokenStats()
    stats.add(tok, messages)
    assert stats.to_dict()["sequences"] == 2 and stats.to_dict()["examples"] == 1
    # a conversation whose only trained turn is the last is one sequence, as before
    assert len(tokenize_turns(tok, messages[:3])) == 1


# Qwen3's rule, shortened: an assistant turn before the last user message is rendered without its reasoning
QWEN3_LIKE = (
    "{%- set ns = namespace(last=0) -%}"
    "{%- for m in messages -%}{%- if m['role'] == 'user' -%}{%- set ns.last = loop.index0 -%}{%- endif -%}{%- endfor -%}"
    "{%- for m in messages -%}"
    "{%- if m['role'] == 'assistant' and '</think>' in m['content'] and loop.index0 < ns.last -%}"
    "{{ '<|im_start|>assistant\\n' + m['content'].split('</think>')[-1].lstrip('\\n') + '<|im_end|>\\n' }}"
    "{%- else -%}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{%- endif -%}"
    "{%- endfor -%}{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)


def test_reasoning_dropped_from_earlier_turns_is_trained_where_generation_writes_it(bundled_tokenizer) -> None:  # type: ignore[no-untyped-def]
    tok = templated(bundled_tokenizer, QWEN3_LIKE)
    messages = two_turns(
        "<think>\nLook it up.\n</think>\n\nIt ships today.", "<think>\nCheck billing.\n</think>\n\nIt is attached."
    )
    sequences = tokenize_turns(tok, messages)
    trained = [trained_text(tok, t) for t in sequences]
    # each turn trained with its reasoning, as the model writes it when that turn is the one it answers
    assert trained == [
        "<think>\nLook it up.\n</think>\n\nIt ships today.<|im_end|>\n",
        "<think>\nCheck billing.\n</think>\n\nIt is attached.<|im_end|>\n",
    ]
    second = sequences[1]
    start = next(i for i, label in enumerate(second.labels) if label != -100)
    prompt = tok.apply_chat_template(messages[:3], tokenize=False, add_generation_prompt=True)
    assert "Look it up" not in prompt and second.input_ids[:start] == prompt_ids(tok, prompt)


def test_missing_stop_token_is_detected(bundled_tokenizer) -> None:  # type: ignore[no-untyped-def]
    tok = bundled_tokenizer
    tokenized = tokenize_chat(tok, [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}])
    assert not stop_token_trained(tok, tokenized, [999_999])


def test_the_header_of_a_tokenizer_that_cannot_be_remembered_is_found_each_time() -> None:
    class Unhashable:
        chat_template = "stub"
        __hash__ = None  # type: ignore[assignment]

        def apply_chat_template(self, messages, tokenize: bool, add_generation_prompt: bool) -> str:  # type: ignore[no-untyped-def]
            return f"<u>{messages[-1]['content']}</u>" + ("<a>" if add_generation_prompt else "")

    assert turn_header(Unhashable()) == "<a>"
    assert turn_starts(Unhashable(), "<u>Hi</u><a>Hello.</a><u>More?</u><a>") == [12, 37]
