"""Content points written by a teacher model instead of extracted."""

from __future__ import annotations

from typing import Any

from tunesmith.knowledge.retrieve import Hit
from tunesmith.models.generation import GenerationParams, Generator

PROMPT = (
    "Below are excerpts from a company knowledge base and a reply the company wrote.\n"
    "List the facts from the excerpts that the reply relies on, at most {n}, one per line, "
    'each line starting with "- ". Only state facts found in the excerpts.\n\n'
    "Excerpts:\n{excerpts}\n\nReply:\n{output}\n\nFacts:"
)


def teacher_points(
    generator: Generator, hits_per_row: list[list[Hit]], outputs: list[str], *, n: int, on_progress: Any = None
) -> list[list[str]]:
    """Ask the teacher for up to ``n`` bullet facts per row; rows where it lists none get none."""
    chats = []
    for hits, output in zip(hits_per_row, outputs, strict=True):
        excerpts = "\n\n".join(f"[{h.chunk.doc} > {h.chunk.heading}]\n{h.chunk.text}" for h in hits)
        chats.append([{"role": "user", "content": PROMPT.format(n=n, excerpts=excerpts, output=output)}])
    generations = generator.generate(chats, GenerationParams(max_new_tokens=48 * n), on_progress=on_progress)
    points = []
    for generation in generations:
        lines = [line.strip() for line in generation.text.splitlines()]
        facts = [line[2:].strip() for line in lines if line.startswith(("- ", "* "))]
        points.append([f for f in facts if len(f.split()) >= 3][:n])
    return points
