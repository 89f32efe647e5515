"""Render chats through the model's own chat template and mark the tokens that are trained.

Loss belongs on what the assistant says, including the end-of-turn token
(a model never trained on it never learns to stop), and nowhere else. The
mask is derived from the template itself, whatever the model: each assistant
turn's text is the difference between the conversation rendered up to that
turn and rendered through it, and a token is trained when it falls inside a
trained turn's span. Messages with ``weight: 0`` are rendered but not trained.
"""

from __future__ import annotations

import weakref
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


class NotPrefixStable(DataError):
    """The template renders a conversation's earlier turns differently once later ones follow."""


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
        end = len(through)
        # Phi-3's template closes a conversation that does not ask for an answer with the end-of-text token:
        # an earlier turn, rendered as the last, carries it, and the conversation goes on without it
        closer = str(getattr(tokenizer, "eos_token", None) or "")
        if not full.startswith(through) and closer and through.endswith(closer):
            end -= len(closer)
        if not full.startswith(through[:end]) or not through.startswith(before):
            raise NotPrefixStable(
                "the chat template does not render conversations prefix by prefix, "
                "so assistant tokens cannot be located",
                fix="Use a model whose chat template renders an assistant turn after the prompt it answers.",
            )
        spans.append((len(before), end))
    return full, spans


def tokenize_chat(tokenizer: Any, messages: Messages, tools: list[Any] | None = None) -> Tokenized:
    """Token ids and labels for one conversation (labels = ids on trained tokens, else -100).

    The text is cut where each assistant turn starts and each piece tokenized apart (`encode`), so every
    turn's prompt is tokenized exactly as generation tokenizes it (`prompt_ids`), earlier turns included.
    Tokenizing the whole text at once can merge the end of the prompt with the answer's first characters
    differently: the GPT-2 pre-tokenizer makes two one-newline tokens of a header's two newlines followed by a
    word and one two-newline token of them at the end of a prompt, and a model trained after the one never
    sees the other where it starts to answer."""
    text, spans = trained_spans(tokenizer, messages, tools)
    ids, offsets = encode(tokenizer, text, [start for start, _ in spans])
    labels = [
        token_id if any(start < span_end and end > span_start for span_start, span_end in spans) else -100
        for token_id, (start, end) in zip(ids, offsets, strict=True)
    ]
    return Tokenized(ids, labels)


def tokenize_turns(tokenizer: Any, messages: Messages, tools: list[Any] | None = None) -> list[Tokenized]:
    """The sequences one conversation trains: itself, where the template renders it prefix by prefix; else one
    per trained assistant turn, each the conversation up to that turn with only it trained. Some templates
    render earlier turns differently once later ones follow (Mistral's moves the system prompt to the last
    user turn, Qwen3's drops earlier turns' reasoning): one sequence would train every turn but the last
    after a prompt generation never renders, while each turn's own sequence is exactly generation's prompt
    for it. Costs more tokens (each turn's history again), so only where needed."""
    try:
        return [tokenize_chat(tokenizer, messages, tools)]
    except NotPrefixStable:
        trained = [i for i, m in enumerate(messages) if m.get("role") == "assistant" and m.get("weight", 1) != 0]
        if not trained or trained == [len(messages) - 1]:  # expanding would render the same conversation
            raise
    return [
        tokenize_chat(
            tokenizer,
            [
                {**m, "weight": 0} if m.get("role") == "assistant" and j != turn else m
                for j, m in enumerate(messages[: turn + 1])
            ],
            tools,
        )
        for turn in trained
    ]


def prompt_ids(tokenizer: Any, text: str) -> list[int]:
    """The ids generation gives the model for a rendered prompt: tokenized as training tokenizes the same
    text (`encode`), so a conversation's earlier assistant turns read as they were trained."""
    return encode(tokenizer, text)[0]


def encode(tokenizer: Any, text: str, cuts: list[int] | None = None) -> tuple[list[int], list[tuple[int, int]]]:
    """Ids and character offsets of ``text``, cut where each assistant turn starts (after the template's
    assistant header, `turn_header`) and at ``cuts``, each piece tokenized apart. Where cutting would change
    the text (a SentencePiece tokenizer that puts a space before every piece), the text is tokenized whole."""
    bounds = sorted({c for c in [*turn_starts(tokenizer, text), *(cuts or [])] if 0 < c < len(text)})
    whole = _encode(tokenizer, text, [(0, len(text))])
    if not bounds:
        return whole
    edges = [0, *bounds, len(text)]
    pieces = _encode(tokenizer, text, list(zip(edges, edges[1:], strict=False)))
    if pieces[0] != whole[0] and not _same_text(tokenizer, pieces[0], whole[0]):
        return whole
    return pieces


_HEADERS: weakref.WeakKeyDictionary[Any, tuple[str, str]] = weakref.WeakKeyDictionary()


def turn_header(tokenizer: Any) -> str:
    """What the chat template writes before an assistant's words (ChatML's ``<|im_start|>assistant\\n``, Llama
    3's header block, Gemma's ``<start_of_turn>model\\n``): the generation prompt, found as what a conversation
    rendered with it adds to the one rendered without. Empty where the template adds none (Mistral's answer
    follows ``[/INST]``, a special token nothing merges across)."""
    template = str(getattr(tokenizer, "chat_template", None) or "")
    try:
        known = _HEADERS.get(tokenizer)
    except TypeError:  # not hashable or weakly referable: computed each time
        known = None
    if known is not None and known[0] == template:
        return known[1]
    probe = [{"role": "user", "content": "Hello."}]
    try:
        opened = str(tokenizer.apply_chat_template(probe, tokenize=False, add_generation_prompt=True))
        closed = str(tokenizer.apply_chat_template(probe, tokenize=False, add_generation_prompt=False))
    except Exception:  # a template that cannot render a lone user turn: no cuts, whole text
        header = ""
    else:
        shared = 0
        while shared < min(len(opened), len(closed)) and opened[shared] == closed[shared]:
            shared += 1
        header = opened[shared:]
    try:
        _HEADERS[tokenizer] = (template, header)
    except TypeError:
        pass
    return header


def turn_starts(tokenizer: Any, text: str) -> list[int]:
    """Where each assistant turn's words start in a rendered conversation: after each assistant header."""
    header = turn_header(tokenizer)
    starts: list[int] = []
    if not header:
        return starts
    at = text.find(header)
    while at >= 0:
        starts.append(at + len(header))
        at = text.find(header, at + len(header))
    return starts


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
    return len(prompt_ids(tokenizer, _render(tokenizer, messages, generation_prompt=False, tools=tools)))


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
) -> tuple[list[Tokenized] | None, list[LintFinding]]:
    """The checks that catch template and end-of-turn mistakes before training, for one conversation: its
    sequences (`tokenize_turns`: one, or one per turn) and what is wrong with them."""
    findings: list[LintFinding] = []
    try:
        sequences = tokenize_turns(tokenizer, messages, tools)
    except DataError as exc:
        code = "template_without_tools" if "tools" in exc.what else "template_not_prefix_stable"
        return None, [LintFinding("error", code, exc.what)]
    for turn, tokenized in enumerate(sequences, 1):
        which = f" (turn {turn} of {len(sequences)}, trained as its own sequence)" if len(sequences) > 1 else ""
        findings.extend(
            LintFinding(f.severity, f.code, f.message + which)
            for f in _lint_sequence(tokenizer, tokenized, stop_ids, max_length)
        )
    return sequences, findings


def _lint_sequence(
    tokenizer: Any, tokenized: Tokenized, stop_ids: list[int], max_length: int | None
) -> list[LintFinding]:
    findings: list[LintFinding] = []
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
    return findings
