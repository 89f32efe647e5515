"""Prompts for one model (evaluation systems, baseline templates) share a generation call while they fit its
running batch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.tiny_model import tiny_generator_with_adapter
from tunesmith.eval.run import _generate, _Planned
from tunesmith.models.generation import GenerationParams
from tunesmith.models.local import LocalGenerator
from tunesmith.models.shared_calls import Ask, generate_shared, groups

TICKETS = ["Where is my order?", "Can I return boots?", "Do you ship to Canada?"]
PARAMS = GenerationParams(max_new_tokens=12)


@pytest.fixture()
def generator(tiny_model: Path) -> LocalGenerator:
    return tiny_generator_with_adapter(tiny_model, batch_size=16)


def _plans(generator: LocalGenerator) -> list[_Planned]:
    def chats(system: str | None) -> list[Any]:
        head = [{"role": "system", "content": system}] if system else []
        return [head + [{"role": "user", "content": t}] for t in TICKETS]

    return [
        _Planned("baseline", chats("Reply warmly."), False, generator, None),
        _Planned("base", chats(None), False, generator, None),
        _Planned("base+rag", chats("Facts: boots can be returned in 30 days."), True, generator, None),
        _Planned("finetuned", chats(None), False, generator, "tuned"),
        _Planned("finetuned+rag", chats("Facts: boots can be returned in 30 days."), True, generator, "tuned"),
    ]


def _counting(generator: LocalGenerator) -> list[int]:
    calls: list[int] = []
    original = generator.generate

    def generate(chats: list[Any], params: GenerationParams, **kwargs: Any) -> Any:
        calls.append(len(chats))
        return original(chats, params, **kwargs)

    generator.generate = generate  # type: ignore[method-assign]
    return calls


def test_systems_of_one_model_and_adapter_share_a_call_with_each_systems_own_answers(
    generator: LocalGenerator,
) -> None:
    plans = _plans(generator)
    alone = {p.system: [g.text for g in generator.generate(p.chats, PARAMS, adapter=p.adapter)] for p in plans}
    assert alone["finetuned"] != alone["base"], "the adapter changes nothing: the test could not fail"

    calls = _counting(generator)
    runs = _generate(plans, PARAMS)
    assert calls == [9, 6]  # baseline + base + base+rag, then the two fine-tuned systems
    assert {s: [g.text for g in r.generations] for s, r in runs.items()} == alone
    assert runs["finetuned+rag"].adapter == "tuned" and runs["base+rag"].uses_rag


def _asks(generator: LocalGenerator) -> list[Ask]:
    return [Ask(p.system, p.chats, p.generator, p.adapter) for p in _plans(generator)]


def test_systems_that_would_overflow_the_batch_keep_their_own_calls(generator: LocalGenerator) -> None:
    generator.batch_size = 5
    assert groups(_asks(generator)) == [[0], [1], [2], [3], [4]]
    generator.batch_size = 6
    assert groups(_asks(generator)) == [[0, 1], [2], [3, 4]]


def test_a_shared_call_splits_its_time_by_the_tokens_each_ask_processed(generator: LocalGenerator) -> None:
    asks = _asks(generator)[:3]
    asks[0].chats = asks[0].chats * 2  # twice the prompts: about twice the work
    answered = generate_shared(asks, PARAMS)
    assert [len(a.generations) for a in answered] == [6, 3, 3]
    work = [sum(g.prompt_tokens + g.completion_tokens for g in a.generations) for a in answered]
    shares = [a.seconds / sum(b.seconds for b in answered) for a in answered]
    assert shares == pytest.approx([w / sum(work) for w in work])
    alone = generate_shared(asks[1:2], PARAMS)[0]
    assert alone.seconds > 0 and [g.text for g in alone.generations] == [g.text for g in answered[1].generations]


def test_greedy_answers_of_the_same_weights_and_prompt_come_from_the_answers_cache(
    generator: LocalGenerator, tmp_path: Path
) -> None:
    from tunesmith.models.journal import Journal

    journal = Journal(tmp_path / "answers.jsonl")
    asks = _asks(generator)
    base, tuned = asks[1], asks[3]
    first = generate_shared([base, tuned], PARAMS, journal_of=lambda ask: journal)
    assert len(journal) == 3  # the base model's answers only: an adapter's are never kept
    calls = _counting(generator)
    changed = Ask("base", [[{"role": "system", "content": "Be brief."}, *c] for c in base.chats[:1]], generator)
    again = generate_shared([base, changed, tuned], PARAMS, journal_of=lambda ask: Journal(tmp_path / "answers.jsonl"))
    # the base ask is read back; a changed system prompt and the adapter's ask are decoded (sharing no call:
    # different adapters)
    assert calls == [1, 3]
    assert [g.text for g in again[0].generations] == [g.text for g in first[0].generations]
    assert again[0].cached == 3 and again[0].seconds == pytest.approx(first[0].seconds)
    assert again[1].cached == 0 and again[2].cached == 0
    # sampling is never cached
    sampled = GenerationParams(max_new_tokens=12, temperature=0.7, seed=1)
    assert generate_shared([base], sampled, journal_of=lambda ask: journal)[0].cached == 0
