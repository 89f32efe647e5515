"""Continuous batching on the bundled model: joining and leaving a running batch changes no answer."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tunesmith.models.generation import GenerationParams
from tunesmith.models.local import LocalGenerator
from tunesmith.models.resolve import DEFAULT_MODEL
from tunesmith.models.spec import LocalModelRef
from tunesmith.serve.adapters import AdapterCache
from tunesmith.serve.scheduler import Busy, Cancelled, Scheduler

CHATS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a color of the rainbow."}],
    [{"role": "user", "content": "Say hello to a customer named Ava who asked about a late package."}],
    [{"role": "user", "content": "List three fruits."}],
]


@pytest.fixture(scope="module")
def generator() -> LocalGenerator:
    return LocalGenerator.load(LocalModelRef(id=DEFAULT_MODEL), Path("."))


def _ids(generator: LocalGenerator, chat: list[dict[str, str]]) -> list[int]:
    return list(generator.tokenizer(generator.render(chat), add_special_tokens=False)["input_ids"])


def _wait_for_tokens(ticket, n: int) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 60
    while len(ticket.generated) < n and time.monotonic() < deadline:
        time.sleep(0.005)


def test_greedy_answers_are_those_of_batched_generation_whoever_joins_when(generator: LocalGenerator) -> None:
    params = GenerationParams(max_new_tokens=24)
    expected = [g.text for g in generator.generate(CHATS, params)]
    # a small prefill chunk: the long prompts are prefilled in several pieces between decoding steps
    scheduler = Scheduler(AdapterCache(generator, budget_bytes=2**30), prefill_chunk=8)
    try:
        first = scheduler.submit(_ids(generator, CHATS[2]), params, None, None)
        _wait_for_tokens(first, 5)  # the others join a batch that is already decoding
        rest = [scheduler.submit(_ids(generator, chat), params, None, None) for chat in CHATS[:2] + CHATS[3:]]
        answers = [first.future.result(120), *(t.future.result(120) for t in rest)]
        order = [2, 0, 1, 3]
        assert [a.text for a in answers] == [expected[i] for i in order]
        assert scheduler.stats()["peak_rows"] >= 2
        assert all(a.prompt_tokens == len(_ids(generator, CHATS[i])) for a, i in zip(answers, order, strict=True))
    finally:
        scheduler.shutdown()


def test_a_row_leaving_from_the_middle_of_the_batch_leaves_the_others_right(generator: LocalGenerator) -> None:
    # the middle row's answer ends first, after the cache has outgrown its first buffer (a forward pass allocated
    # the new one: an inference tensor); the last row's keys and values then move into its place, written
    # between steps, outside inference mode
    chats = [
        [{"role": "user", "content": f"Write a long story about {thing}."}] for thing in ("a dragon", "a ship", "a fox")
    ]
    limits = [90, 75, 90]
    expected = [
        generator.generate([chat], GenerationParams(max_new_tokens=n))[0] for chat, n in zip(chats, limits, strict=True)
    ]
    assert [g.finish_reason for g in expected] == ["length"] * 3  # every row runs to its limit
    scheduler = Scheduler(AdapterCache(generator, budget_bytes=2**30))
    try:
        tickets = [
            scheduler.submit(_ids(generator, chat), GenerationParams(max_new_tokens=n), None, None)
            for chat, n in zip(chats, limits, strict=True)
        ]
        assert [t.future.result(120).text for t in tickets] == [g.text for g in expected]
        assert scheduler.stats()["peak_rows"] == 3
    finally:
        scheduler.shutdown()


def test_a_cancelled_answer_stops_and_frees_its_row_while_others_finish(generator: LocalGenerator) -> None:
    scheduler = Scheduler(AdapterCache(generator, budget_bytes=2**30))
    try:
        long = scheduler.submit(_ids(generator, CHATS[2]), GenerationParams(max_new_tokens=400), None, None)
        short = scheduler.submit(_ids(generator, CHATS[0]), GenerationParams(max_new_tokens=6), None, None)
        _wait_for_tokens(long, 3)
        long.cancel()
        with pytest.raises(Cancelled):
            long.future.result(5)
        assert len(long.generated) < 400
        assert short.future.result(60).completion_tokens <= 6
        assert scheduler.stats()["cancelled"] == 1
    finally:
        scheduler.shutdown()


def test_a_seed_gives_the_same_sample_alone_or_in_company(generator: LocalGenerator) -> None:
    sampled = GenerationParams(max_new_tokens=16, temperature=1.0, top_p=0.9, seed=1234)
    scheduler = Scheduler(AdapterCache(generator, budget_bytes=2**30))
    try:
        alone = scheduler.submit(_ids(generator, CHATS[3]), sampled, None, None).future.result(60)
        crowd = [
            scheduler.submit(_ids(generator, chat), GenerationParams(max_new_tokens=16, temperature=1.0), None, None)
            for chat in CHATS[:3]
        ]
        together = scheduler.submit(_ids(generator, CHATS[3]), sampled, None, None).future.result(60)
        for ticket in crowd:
            ticket.future.result(60)
        assert together.text == alone.text
    finally:
        scheduler.shutdown()


def test_a_full_queue_is_refused_and_shutdown_cancels_what_waits(generator: LocalGenerator) -> None:
    scheduler = Scheduler(AdapterCache(generator, budget_bytes=2**30), max_batch=1, max_queue=2)
    try:
        running = scheduler.submit(_ids(generator, CHATS[2]), GenerationParams(max_new_tokens=400), None, None)
        _wait_for_tokens(running, 1)
        waiting = [scheduler.submit(_ids(generator, CHATS[0]), GenerationParams(max_new_tokens=4), None, None)]
        waiting.append(scheduler.submit(_ids(generator, CHATS[0]), GenerationParams(max_new_tokens=4), None, None))
        with pytest.raises(Busy):
            scheduler.submit(_ids(generator, CHATS[0]), GenerationParams(max_new_tokens=4), None, None)
    finally:
        scheduler.shutdown()
    for ticket in [running, *waiting]:
        with pytest.raises(Cancelled):
            ticket.future.result(5)
