"""Evaluation systems of one model share a generation call while their prompts fit its running batch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.tiny_model import tiny_generator_with_adapter
from tunesmith.eval.run import _calls, _generate, _Planned
from tunesmith.models.generation import GenerationParams
from tunesmith.models.local import LocalGenerator

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


def test_systems_that_would_overflow_the_batch_keep_their_own_calls(generator: LocalGenerator) -> None:
    generator.batch_size = 5
    assert [[p.system for p in group] for group in _calls(_plans(generator))] == [
        ["baseline"],
        ["base"],
        ["base+rag"],
        ["finetuned"],
        ["finetuned+rag"],
    ]
    generator.batch_size = 6
    assert [len(group) for group in _calls(_plans(generator))] == [2, 1, 2]
