"""Render chats through the model's own chat template and mark the tokens that are trained.

Loss belongs on what the assistant says, including the end-of-turn token
(a model never trained on it never learns to stop), and nowhere else. The
mask is derived from the template itself, whatever the model: each assistant
turn's text is the difference between the conversation rendered up to that
turn and rendered through it, and a token is trained when it falls inside a
trained turn's span. Messages with ``weight: 0`` are rendered but not trained.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tunesmith.core.errors import DataError

Messages = list[dict[str, Any]]


@dataclass
class Tokenized:
    input_ids: list[int]
    labels: list[int]  # -100 where not trained

    @property
    def trained_tokens(self) -> int:
        return sum(1 for t in self.labels if t != -100)


def _render(tokenizer: Any, messages: Messages, *, generation_prompt: bool) -> str:
    clean = [{k: v for k, v in m.items() if k != "weight"} for m in messages]
    return str(tokenizer.apply_chat_template(clean, tokenize=False, add_generation_prompt=generation_prompt))


def trained_spans(tokenizer: Any, messages: Messages) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of its trained assistant turns."""
    full = _render(tokenizer, messages, generation_prompt=False)
    spans: list[tuple[int, int]] = []
    for i, message in enumerate(messages):
        if message.get("role") != "assistant" or message.get("weight", 1) == 0:
            continue
        before = _render(tokenizer, messages[:i], generation_prompt=True)
        through = _render(tokenizer, messages[: i + 1], generation_prompt=False)
        if not full.startswith(through) or not through.startswith(before):
            raise DataError(
                "the chat template does not render conversations prefix by prefix, "
                "so assistant tokens cannot be located",
                fix="Use a model whose chat template renders earlier turns unchanged.",
            )
        spans.append((len(before), len(through)))
    return full, spans


def tokenize_chat(tokenizer: Any, messages: Messages) -> Tokenized:
    """Token ids and labels for one conversation (labels = ids on trained tokens, else -100)."""
    text, spans = trained_spans(tokenizer, messages)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids: list[int] = enc["input_ids"]
    labels = []
    for token_id, (start, end) in zip(ids, enc["offset_mapping"], strict=True):
        trained = any(start < span_end and end > span_start for span_start, span_end in spans)
        labels.append(token_id if trained else -100)
    return Tokenized(ids, labels)


def count_chat_tokens(tokenizer: Any, messages: Messages) -> int:
    return len(tokenizer(_render(tokenizer, messages, generation_prompt=False), add_special_tokens=False)["input_ids"])


def stop_token_trained(tokenizer: Any, tokenized: Tokenized, stop_ids: list[int]) -> bool:
    """True when every trained assistant turn includes a token the model stops on."""
    in_span = False
    saw_stop = False
    for label in tokenized.labels + [-100]:
        if label != -100:
            in_span = True
            saw_stop = saw_stop or label in stop_ids
        elif in_span:
            if not saw_stop:
                return False
            in_span, saw_stop = False, False
    return True
