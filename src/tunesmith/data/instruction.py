"""The prompt format shared by data building, evaluation and serving.

A fine-tuned model only behaves as trained when it is prompted as trained, so
the one function that writes a user turn (input, optionally followed by
numbered content points from the knowledge base) lives here, below every stage.
Points are numbered so an answer can cite the ones it used (``[2]``); the
helpers here find, strip and resolve those markers the same way everywhere.
"""

from __future__ import annotations

import re

POINTS_HEADER = "Facts from the knowledge base:"
_CITATION = re.compile(r"\s*\[(\d{1,2})\]")


def format_points(points: list[str]) -> str:
    return POINTS_HEADER + "\n" + "\n".join(f"[{i}] {p}" for i, p in enumerate(points, 1))


def user_turn(input_text: str, points: list[str] | None = None) -> str:
    if not points:
        return input_text.strip()
    return f"{input_text.strip()}\n\n{format_points(points)}"


def split_user_turn(text: str) -> tuple[str, list[str]]:
    """(input, points) of a user turn written by ``user_turn``."""
    head, sep, tail = text.partition(f"\n\n{POINTS_HEADER}\n")
    if not sep:
        return text.strip(), []
    return head.strip(), [re.sub(r"^\[\d+\] ", "", line) for line in tail.splitlines() if line.strip()]


def chat(system: str | None, input_text: str, points: list[str] | None = None) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": user_turn(input_text, points)})
    return messages


def strip_citations(text: str) -> str:
    """The answer without its ``[n]`` markers (what text metrics compare with a reference that has none)."""
    return re.sub(r"[ \t]+([.,;:!?])", r"\1", _CITATION.sub("", text)).strip()


def cited(text: str) -> list[int]:
    """The point numbers an answer cites, in order, each once."""
    seen: list[int] = []
    for match in _CITATION.finditer(text):
        number = int(match.group(1))
        if number not in seen:
            seen.append(number)
    return seen


def render_template(
    *,
    system: str | None,
    user: str,
    input_text: str,
    points: list[str] | None = None,
    shots: list[tuple[str, str]] | None = None,
) -> list[dict[str, str]]:
    """A prompt template as a chat: system, few-shot turns, then the user turn.

    ``user`` may use ``{input}`` and ``{context}``; when the template has no
    ``{context}`` but points are given, they are appended in the standard format.
    """
    messages = [{"role": "system", "content": system}] if system else []
    for shot_input, shot_output in shots or []:
        messages.append({"role": "user", "content": shot_input})
        messages.append({"role": "assistant", "content": shot_output})
    context = format_points(points) if points else ""
    text = user.replace("{input}", input_text.strip()).replace("{context}", context)
    if points and "{context}" not in user:
        text = f"{text.strip()}\n\n{context}"
    messages.append({"role": "user", "content": text.strip()})
    return messages
