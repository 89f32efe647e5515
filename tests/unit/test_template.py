"""Loss masks come from the model's own chat template: assistant turns and their end-of-turn token only."""

from __future__ import annotations

from tunesmith.data.template import stop_token_trained, tokenize_chat


def trained_text(tok, tokenized) -> str:  # type: ignore[no-untyped-def]
    return tok.decode([t for t in tokenized.labels if t != -100])


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


def test_missing_stop_token_is_detected(bundled_tokenizer) -> None:  # type: ignore[no-untyped-def]
    tok = bundled_tokenizer
    tokenized = tokenize_chat(tok, [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}])
    assert not stop_token_trained(tok, tokenized, [999_999])
