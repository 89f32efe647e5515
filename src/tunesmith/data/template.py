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


def render(tokenizer: Any, messages: Messages, *, generation_prompt: bool, tools: list[Any] | None = None) -> str:
    """A conversation through the model's chat template; with ``tools``, declared to the model (a template that
    would drop them is refused) and tool calls rendered the way the template writes them."""
    if tools or any(m.get("tool_calls") or m.get("role") == "tool" for m in messages):
        from tunesmith.data.tools import for_template, require_tool_template

        require_tool_template(tokenizer, "tools")
        return str(
            tokenizer.apply_chat_template(
                for_template(messages), tools=tools, tokenize=False, add_generation_prompt=generation_prompt
            )
        )
    clean = [{k: v for k, v in m.items() if k != "weight"} for m in messages]
    return str(tokenizer.apply_chat_template(clean, tokenize=False, add_generation_prompt=generation_prompt))


_render = render


def trained_spans(
    tokenizer: Any, messages: Messages, tools: list[Any] | None = None
) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of its trained assistant turns (a tool call is the
    assistant's turn too; tool results are context, never trained)."""
    full = _render(tokenizer, messages, generation_prompt=False, tools=tools)
    spans: list[tuple[int, int]] = []
    for i, message in enumerate(messages):
        if message.get("role") != "assistant" or message.get("weight", 1) == 0:
            continue
        before = _render(tokenizer, messages[:i], generation_prompt=True, tools=tools)
        through = _render(tokenizer, messages[: i + 1], generation_prompt=False, tools=tools)
        if not full.startswith(through) or not through.startswith(before):
            raise DataError(
                "the chat template does not render conversations prefix by prefix, "
                "so assistant tokens cannot be located",
                fix="Use a model whose chat template renders earlier turns unchanged.",
            )
        spans.append((len(before), len(through)))
    return full, spans


def tokenize_chat(tokenizer: Any, messages: Messages, tools: list[Any] | None = None) -> Tokenized:
    """Token ids and labels for one conversation (labels = ids on trained tokens, else -100).

    Each trained turn starts on a token boundary, the text before it tokenized apart from it, so the prompt
    ends in the tokens generation gives the model (the first turn's prompt is exactly generation's).
    Tokenizing the whole text at once can merge the end of the prompt with the answer's first characters
    differently: the GPT-2 pre-tokenizer makes two one-newline tokens of a header's two newlines followed by a
    word and one two-newline token of them at the end of a prompt, and a model trained after the one never
    sees the other where it starts to answer. Where cutting would change the text (a SentencePiece tokenizer
    that puts a space before every piece), the conversation is tokenized whole."""
    text, spans = trained_spans(tokenizer, messages, tools)
    whole = _encode(tokenizer, text, [(0, len(text))])
    cuts = [0, *(start for start, _ in spans if 0 < start < len(text)), len(text)]
    pieces = _encode(tokenizer, text, list(zip(cuts, cuts[1:], strict=False)))
    if pieces[0] != whole[0] and not _same_text(tokenizer, pieces[0], whole[0]):
        pieces = whole
    ids, offsets = pieces
    labels = [
        token_id if any(start < span_end and end > span_start for span_start, span_end in spans) else -100
        for token_id, (start, end) in zip(ids, offsets, strict=True)
    ]
    return Tokenized(ids, labels)


def _encode(tokenizer: Any, text: str, pieces: list[tuple[int, int]]) -> tuple[list[int], list[tuple[int, int]]]:
    """Ids and character offsets of ``text`` tokenized piece by piece."""
    ids: list[int] = []
    offsets: list[tuple[int, int]] = []
    for begin, end in pieces:
        enc = tokenizer(text[begin:end], add_special_tokens=False, return_offsets_mapping=True)
        ids.extend(enc["input_ids"])
        offsets.extend((begin + a, begin + b) for a, b in enc["offset_mapping"])
    return ids, offsets


def _same_text(tokenizer: Any, ids: list[int], reference: list[int]) -> bool:
    def text(tokens: list[int]) -> str:
        return str(tokenizer.decode(tokens, skip_special_tokens=False, clean_up_tokenization_spaces=False))

    return text(ids) == text(reference)


def count_chat_tokens(tokenizer: Any, messages: Messages, tools: list[Any] | None = None) -> int:
    text = _render(tokenizer, messages, generation_prompt=False, tools=tools)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


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


@dataclass
class LintFinding:
    severity: str  # "error" | "warning"
    code: str
    message: str


def lint_example(
    tokenizer: Any,
    messages: Messages,
    stop_ids: list[int],
    *,
    max_length: int | None = None,
    tools: list[Any] | None = None,
) -> tuple[Tokenized | None, list[LintFinding]]:
    """The checks that catch template and end-of-turn mistakes before training, for one conversation."""
    findings: list[LintFinding] = []
    try:
        tokenized = tokenize_chat(tokenizer, messages, tools)
    except DataError as exc:
        code = "template_without_tools" if "tools" in exc.what else "template_not_prefix_stable"
        return None, [LintFinding("error", code, exc.what)]
    if tokenized.trained_tokens == 0:
        findings.append(LintFinding("error", "nothing_trained", "no assistant token is trained (all weights 0?)"))
    elif not stop_token_trained(tokenizer, tokenized, stop_ids):
        stop = ", ".join(repr(tokenizer.convert_ids_to_tokens(i)) for i in stop_ids)
        findings.append(
            LintFinding(
                "error",
                "no_stop_token",
                f"a trained assistant turn does not end with a stop token ({stop}); the model would not learn to stop",
            )
        )
    bos = getattr(tokenizer, "bos_token_id", None)
    ids = tokenized.input_ids
    if bos is not None and len(ids) > 1 and ids[0] == bos and ids[1] == bos:
        findings.append(LintFinding("error", "double_bos", "the sequence starts with two BOS tokens"))
    if max_length is not None:
        trained = [i for i, t in enumerate(tokenized.labels) if t != -100]
        if trained and trained[0] >= max_length:
            findings.append(
                LintFinding(
                    "error",
                    "response_truncated_away",
                    f"truncating to {max_length} tokens cuts away the whole response (it starts at token {trained[0]})",
                )
            )
        elif trained and trained[-1] >= max_length:
            findings.append(
                LintFinding(
                    "warning",
                    "response_truncated",
                    f"truncating to {max_length} tokens cuts the end of the response "
                    f"({len(ids)} tokens), including the stop token",
                )
            )
    return tokenized, findings
