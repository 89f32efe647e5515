"""Several callers' prompts for one local model decoded in one running batch, while they fit it.

On a CPU a decoding step of a few rows costs nearly what a full batch's does (the weights are read once a
step either way), so small sets of prompts for the same model and adapter, asked one after another, are
decoded together: the quick demo's evaluation ran its five systems of 6 tickets in 2 calls where it ran 5,
and the baseline's three templates of 16 validation tickets run in one call where they ran three. Once a set
fills the batch by itself, joining gains nothing (one call for 159 prompts measured no faster than three of
53: 123.5 s against 120.5 s, identical answers), so such sets keep their own call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from tunesmith.core.progress import task
from tunesmith.models.generation import Chat, Generation, GenerationParams, Generator
from tunesmith.models.local import LocalGenerator


@dataclass
class Ask:
    """One caller's prompts and the model (and adapter) that answers them."""

    label: str
    chats: list[Chat]
    generator: Generator
    adapter: str | None = None


@dataclass
class Answered:
    """An ``Ask``'s answers, and its share of the call's wall time (by tokens processed, when shared)."""

    generations: list[Generation]
    seconds: float


def groups(asks: list[Ask]) -> list[list[int]]:
    """Indexes of consecutive asks of one local model and adapter, grouped while their prompts fit its batch."""
    out: list[list[int]] = []
    for i, ask in enumerate(asks):
        last = out[-1] if out else None
        if (
            last is not None
            and isinstance(ask.generator, LocalGenerator)
            and ask.generator is asks[last[0]].generator
            and ask.adapter == asks[last[0]].adapter
            and sum(len(asks[j].chats) for j in last) + len(ask.chats) <= ask.generator.batch_size
        ):
            last.append(i)
        else:
            out.append([i])
    return out


def generate_shared(
    asks: list[Ask], params: GenerationParams, *, title: Callable[[list[Ask]], str] | None = None
) -> list[Answered]:
    """Every ask's answers, in order; asks that share a call share its progress bar."""
    answered: list[Answered | None] = [None] * len(asks)
    for group in groups(asks):
        members = [asks[i] for i in group]
        first = members[0]
        chats = [c for ask in members for c in ask.chats]
        label = title(members) if title is not None else ", ".join(a.label for a in members)
        with task(label, len(chats)) as update:
            started = time.perf_counter()
            if first.adapter is None:
                generations = first.generator.generate(chats, params, on_progress=update)
            else:
                generations = first.generator.generate(chats, params, adapter=first.adapter, on_progress=update)
            wall = time.perf_counter() - started
        work = [g.prompt_tokens + g.completion_tokens for g in generations]
        total = max(sum(work), 1)
        start = 0
        for i, ask in zip(group, members, strict=True):
            mine = slice(start, start + len(ask.chats))
            start = mine.stop
            share = wall if len(members) == 1 else wall * sum(work[mine]) / total
            answered[i] = Answered(generations[mine], share)
    return [a for a in answered if a is not None]
