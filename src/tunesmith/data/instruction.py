"""The prompt format shared by data building, evaluation and serving.

A fine-tuned model only behaves as trained when it is prompted as trained, so
the one function that writes a user turn (input, optionally followed by
content points from the knowledge base) lives here, below every stage.
"""

from __future__ import annotations

POINTS_HEADER = "Facts from the knowledge base:"


def format_points(points: list[str]) -> str:
    return POINTS_HEADER + "\n" + "\n".join(f"- {p}" for p in points)


def user_turn(input_text: str, points: list[str] | None = None) -> str:
    if not points:
        return input_text.strip()
    return f"{input_text.strip()}\n\n{format_points(points)}"


def chat(system: str | None, input_text: str, points: list[str] | None = None) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": user_turn(input_text, points)})
    return messages


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
