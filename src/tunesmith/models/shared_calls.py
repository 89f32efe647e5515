"""Several callers' prompts for one local model decoded in one running batch, while they fit it; greedy
answers of unchanged weights taken from the answers cache instead of decoded again.

On a CPU a decoding step of a few rows costs nearly what a full batch's does (the weights are read once a
step either way), so small sets of prompts for the same model and adapter, asked one after another, are
decoded together: the quick demo's evaluation ran its five systems of 6 tickets in 2 calls where it ran 5,
and the baseline's three templates of 16 validation tickets run in one call where they ran three (56.6 s
against 80.3 s, identical answers). Once a set fills the batch by itself, joining gains nothing (one call
for 159 prompts measured no faster than three of 53: 123.5 s against 120.5 s), so such sets keep their own
call.

A greedy answer depends only on the weights and the exact prompt, so where the caller names a journal for a
model (the base model's, kept in the user's cache by ``models.journal.answers_journal``), answers already
there are read back rather than decoded: the evaluation's base systems and the baseline's templates are not
decoded again after every new fine-tune. The key is the prompt as rendered, so a changed chat template,
system prompt, retrieved context or generation setting asks again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from tunesmith.core.progress import note, task
from tunesmith.models.generation import Chat, Generation, GenerationParams, Generator
from tunesmith.models.journal import Journal
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
    """An ``Ask``'s answers; ``seconds``: its share of the decoding time, by tokens processed when it shared a
    call (answers from the cache count the share they were charged when decoded); ``cached``: how many."""

    generations: list[Generation]
    seconds: float
    cached: int = 0


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
    asks: list[Ask],
    params: GenerationParams,
    *,
    title: Callable[[list[Ask]], str] | None = None,
    journal_of: Callable[[Ask], Journal | None] | None = None,
    step: str = "answers",
) -> list[Answered]:
    """Every ask's answers, in order; asks that share a call share its progress bar. ``journal_of(ask)``: the
    journal that holds (and keeps) the ask's greedy answers, or None to decode them all."""
    found: list[dict[int, Generation]] = [{} for _ in asks]
    charged: list[dict[int, float]] = [{} for _ in asks]
    keys: list[list[str] | None] = [None] * len(asks)
    journals: list[Journal | None] = [None] * len(asks)
    for i, ask in enumerate(asks):
        journal = journal_of(ask) if journal_of is not None and params.greedy else None
        if journal is None or not isinstance(ask.generator, LocalGenerator) or ask.adapter is not None:
            continue
        journals[i] = journal
        keys[i] = [_key(step, ask.generator, chat, params) for chat in ask.chats]
        for row, key in enumerate(keys[i] or []):
            if key in journal:
                found[i][row], charged[i][row] = _from_entry(journal.get(key))

    missing = [[r for r in range(len(ask.chats)) if r not in found[i]] for i, ask in enumerate(asks)]
    whole = [ask for i, ask in enumerate(asks) if ask.chats and not missing[i]]
    if whole:
        label = title(whole) if title is not None else ", ".join(a.label for a in whole)
        note(f"{label}: {sum(len(a.chats) for a in whole)} answers from the answers cache (eval.cache_answers)")
    todo = [i for i in range(len(asks)) if missing[i]]
    reduced = [
        Ask(asks[i].label, [asks[i].chats[r] for r in missing[i]], asks[i].generator, asks[i].adapter) for i in todo
    ]
    for group in groups(reduced):
        members = [reduced[g] for g in group]
        generations, seconds = _decode(members, params, title, cached=sum(len(found[todo[g]]) for g in group))
        start = 0
        for g, member in zip(group, members, strict=True):
            i = todo[g]
            rows = missing[i]
            new = []
            for offset, row in enumerate(rows):
                found[i][row] = generations[start + offset]
                charged[i][row] = seconds[start + offset]
                if journals[i] is not None:
                    new.append(_entry(keys[i][row], step, member.generator.name, found[i][row], charged[i][row]))  # type: ignore[index]
            start += len(rows)
            if new:
                journals[i].put_many(new)  # type: ignore[union-attr]
    return [
        Answered(
            [found[i][r] for r in range(len(ask.chats))],
            sum(charged[i].values()),
            cached=len(ask.chats) - len(missing[i]),
        )
        for i, ask in enumerate(asks)
    ]


def _decode(
    members: list[Ask], params: GenerationParams, title: Callable[[list[Ask]], str] | None, cached: int
) -> tuple[list[Generation], list[float]]:
    """One call for ``members``: the generations and each row's share of the call's time."""
    first = members[0]
    chats = [c for ask in members for c in ask.chats]
    label = title(members) if title is not None else ", ".join(a.label for a in members)
    if cached:
        label += f" ({cached} more from the answers cache)"
    with task(label, len(chats)) as update:
        started = time.perf_counter()
        if first.adapter is None:
            generations = first.generator.generate(chats, params, on_progress=update)
        else:
            generations = first.generator.generate(chats, params, adapter=first.adapter, on_progress=update)
        wall = time.perf_counter() - started
    work = [g.prompt_tokens + g.completion_tokens for g in generations]
    total = max(sum(work), 1)
    return generations, [wall * w / total for w in work]


def _key(step: str, generator: LocalGenerator, chat: Chat, params: GenerationParams) -> str:
    # the rendered prompt, not the messages: a project's own chat template changes what the model sees
    return Journal.key(step, generator.name, [{"role": "rendered", "content": generator.render(chat)}], params)


def _entry(key: str, step: str, model: str, generation: Generation, seconds: float) -> dict[str, object]:
    return {
        "key": key,
        "step": step,
        "model": model,
        "text": generation.text,
        "finish_reason": generation.finish_reason,
        "prompt_tokens": generation.prompt_tokens,
        "completion_tokens": generation.completion_tokens,
        "latency_s": generation.latency_s,
        "seconds": seconds,
    }


def _from_entry(entry: dict[str, object]) -> tuple[Generation, float]:
    generation = Generation(
        text=str(entry["text"]),
        prompt_tokens=int(entry.get("prompt_tokens", 0)),  # type: ignore[call-overload]
        completion_tokens=int(entry.get("completion_tokens", 0)),  # type: ignore[call-overload]
        finish_reason=str(entry["finish_reason"]),
        latency_s=float(entry.get("latency_s", 0.0)),  # type: ignore[arg-type]
        extra={"cached": True},
    )
    return generation, float(entry.get("seconds", 0.0))  # type: ignore[arg-type]
