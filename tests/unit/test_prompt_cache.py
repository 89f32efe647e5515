"""The server's prompt cache: what it finds, what it keeps, whom it serves, and that answers do not change."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from tunesmith.serve import prompt_cache  # noqa: E402
from tunesmith.serve.prompt_cache import BLOCK, MIN_REUSE, PromptCache  # noqa: E402

LAYERS, HEADS, DIM = 2, 2, 4
PER_TOKEN = LAYERS * 2 * HEADS * DIM * 4  # keys and values of every layer, fp32


def _layers(tokens: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Stand-in keys and values whose every position records its token, so a lookup's slice can be checked."""
    column = torch.tensor(tokens, dtype=torch.float32)[None, None, :, None].expand(1, HEADS, len(tokens), DIM)
    return [(column.clone() + layer, column.clone() - layer) for layer in range(LAYERS)]


def test_the_longest_cached_start_is_found_leaving_the_last_token_to_prefill() -> None:
    cache = PromptCache(2**20)
    stored = list(range(100, 150))  # 50 tokens: three whole blocks and two tokens more
    assert cache.put("a", stored, _layers(stored))
    # shares 40 tokens: past the second block boundary, by comparison token by token
    length, entry = cache.longest("a", stored[:40] + [7, 8, 9])
    assert length == 40 and entry is not None
    # the whole stored sequence and more: all 50 reused
    assert cache.longest("a", stored + [1, 2, 3])[0] == 50
    # exactly the stored sequence: its last token is prefilled again (its logits choose the answer's first token)
    assert cache.longest("a", stored)[0] == 49
    # diverging inside the first block: fewer than MIN_REUSE tokens are not worth copying
    assert cache.longest("a", stored[:5] + [0] * 40) == (0, None)
    assert cache.longest("a", [1] * 60) == (0, None)
    assert MIN_REUSE <= BLOCK


def test_entries_are_scoped_by_tenant_and_adapter() -> None:
    cache = PromptCache(2**20)
    tokens = list(range(64))
    cache.put(("key-a", None, None), tokens, _layers(tokens))
    assert cache.longest(("key-a", None, None), tokens + [1])[0] == 64
    assert cache.longest(("key-b", None, None), tokens + [1]) == (0, None)  # another API key
    assert cache.longest(("key-a", "ft-1", "/runs/1"), tokens + [1]) == (0, None)  # another adapter


def test_a_hash_collision_never_reuses_another_prompts_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    # every block hashes alike: only the token comparison can tell prompts apart
    monkeypatch.setattr(prompt_cache, "_chain", lambda tokens, blocks: [0] * blocks)
    cache = PromptCache(2**20)
    tokens = list(range(48))
    cache.put("s", tokens, _layers(tokens))
    assert cache.longest("s", [5] * 48) == (0, None)
    assert cache.longest("s", tokens + [9])[0] == 48


def test_a_conversation_keeps_one_entry_and_the_budget_evicts_the_least_recently_used() -> None:
    turn1 = list(range(40))
    turn2 = turn1 + list(range(200, 230))
    cache = PromptCache(2**20)
    cache.put("s", turn1, _layers(turn1))
    cache.put("s", turn2, _layers(turn2))  # extends turn 1: the older entry goes
    # stored in whole blocks of BLOCK positions: 70 tokens take 5
    assert cache.stats()["entries"] == 1 and cache.stats()["bytes"] == 5 * BLOCK * PER_TOKEN

    small = PromptCache(9 * BLOCK * PER_TOKEN)  # room for three 40-token entries (3 blocks each)
    a, b, c, d = ([n] * 40 for n in (1, 2, 3, 4))
    for seq in (a, b, c):
        small.put("s", seq, _layers(seq))
    assert small.longest("s", a + [0])[0] == 40  # a is used: b is now the least recently used
    small.put("s", d, _layers(d))
    assert small.longest("s", b + [0]) == (0, None)
    assert all(small.longest("s", seq + [0])[0] == 40 for seq in (a, c, d))
    assert small.stats()["evicted"] == 1 and small.stats()["bytes"] <= small.budget
    # d took b's blocks: what comes back is d's own keys and values, position by position
    for seq in (a, c, d):
        length, entry = small.longest("s", seq + [0])
        for got, want in zip(small.layers(entry, length), _layers(seq), strict=True):
            assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


def test_what_is_not_kept() -> None:
    cache = PromptCache(3 * BLOCK * PER_TOKEN)
    assert not cache.put("s", list(range(MIN_REUSE - 1)), _layers(list(range(MIN_REUSE - 1))))  # too short
    assert not cache.put("s", list(range(3 * BLOCK + 1)), _layers(list(range(3 * BLOCK + 1))))  # past the budget
    assert not cache.put("s", list(range(30)), _layers(list(range(29))))  # shapes that do not match the tokens
    assert not cache.put("s", list(range(30)), None)  # a cache whose layers are not the row's alone
    assert cache.stats()["entries"] == 0
    assert cache.put("s", list(range(3 * BLOCK)), _layers(list(range(3 * BLOCK))))  # exactly the budget
    assert not PromptCache(BLOCK * PER_TOKEN - 1).put("s", list(range(20)), _layers(list(range(20))))  # < 1 block


def test_a_taken_cache_holds_the_reused_positions() -> None:
    transformers = pytest.importorskip("transformers")
    config = transformers.LlamaConfig(
        vocab_size=64,
        hidden_size=HEADS * DIM * 2,
        intermediate_size=32,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS * 2,
        num_key_value_heads=HEADS,
        max_position_embeddings=256,
    )
    model = transformers.LlamaForCausalLM(config).eval()
    cache = PromptCache(2**20)
    stored = list(range(100, 140))
    cache.put("s", stored, _layers(stored))
    held, length = cache.take(model, "s", stored[:35] + [1, 2])
    assert length == 35 and held.get_seq_length() == 35
    assert torch.equal(held.layers[1].keys[0, 0, :, 0], torch.tensor(stored[:35], dtype=torch.float32) + 1)
    assert cache.take(model, "s", [3] * 40) == (None, 0)


# -- on the bundled model, through the scheduler ---------------------------------------------------------


@pytest.fixture(scope="module")
def generator():  # type: ignore[no-untyped-def]
    from tunesmith.models.local import LocalGenerator
    from tunesmith.models.resolve import DEFAULT_MODEL
    from tunesmith.models.spec import LocalModelRef

    return LocalGenerator.load(LocalModelRef(id=DEFAULT_MODEL), Path("."))


SYSTEM = (
    "You are Northwind Outfitters' customer support assistant. Start with 'Hi' and the customer's first name, "
    "answer from Northwind's policies, and end with 'Happy trails,' and 'The Northwind Support Team'."
)
TURNS = ["Hi, my tent pole snapped on the first trip. Can I get a replacement?", "How long does shipping take?"]


def _conversation(generator, scheduler, tenant: str | None = None) -> list[tuple[str, int, int]]:  # type: ignore[no-untyped-def]
    from tunesmith.models.generation import GenerationParams

    chat = [{"role": "system", "content": SYSTEM}]
    out = []
    for turn in TURNS:
        chat.append({"role": "user", "content": turn})
        ids = list(generator.tokenizer(generator.render(chat), add_special_tokens=False)["input_ids"])
        answer = scheduler.submit(ids, GenerationParams(max_new_tokens=24), None, None, tenant=tenant)
        got = answer.future.result(120)
        out.append((got.text, got.prompt_tokens, got.extra["cached_tokens"]))
        chat.append({"role": "assistant", "content": got.text})
    return out


def test_a_conversation_reuses_its_earlier_turns_and_answers_as_without_the_cache(generator) -> None:  # type: ignore[no-untyped-def]
    from tunesmith.serve.adapters import AdapterCache
    from tunesmith.serve.scheduler import Scheduler

    plain = Scheduler(AdapterCache(generator, budget_bytes=2**30), prefill_chunk=32)
    try:
        expected = _conversation(generator, plain)
    finally:
        plain.shutdown()
    assert [cached for _, _, cached in expected] == [0, 0]

    cached = Scheduler(AdapterCache(generator, budget_bytes=2**30), prefill_chunk=32, prompt_cache=PromptCache(2**28))
    try:
        first = _conversation(generator, cached, tenant="a")
        # the second turn starts from the first turn's prompt and answer (all but the answer's end token)
        assert [text for text, _, _ in first] == [text for text, _, _ in expected]
        first_prompt = first[0][1]
        assert first[0][2] == 0 and first_prompt < first[1][2] < first[1][1]
        # the same conversation again reuses its system prompt and first turn at once
        again = _conversation(generator, cached, tenant="a")
        assert again[0][2] == first_prompt - 1 and [t for t, _, _ in again] == [t for t, _, _ in expected]
        # another tenant shares nothing, however alike its prompts
        other = _conversation(generator, cached, tenant="b")
        assert other[0][2] == 0 and [t for t, _, _ in other] == [t for t, _, _ in expected]
        stats = cached.stats()["prompt_cache"]
        assert stats["hits"] >= 3 and stats["bytes"] <= stats["budget_bytes"]
    finally:
        cached.shutdown()


def test_prompts_with_cached_starts_of_different_lengths_are_prefilled_together_and_answer_alike(generator) -> None:  # type: ignore[no-untyped-def]
    from tunesmith.models.generation import GenerationParams
    from tunesmith.serve.adapters import AdapterCache
    from tunesmith.serve.scheduler import Scheduler

    def ids(*turns: str) -> list[int]:
        chat = [{"role": "system", "content": SYSTEM}] + [{"role": "user", "content": t} for t in turns]
        return list(generator.tokenizer(generator.render(chat), add_special_tokens=False)["input_ids"])

    params = GenerationParams(max_new_tokens=12)
    # one with the system prompt cached, one with a longer start cached, one with nothing (another system prompt)
    other = [{"role": "user", "content": "Where is my order?"}]  # the template's own system prompt
    prompts = [
        ids(TURNS[1]),
        ids(TURNS[0], TURNS[1]),
        list(generator.tokenizer(generator.render(other), add_special_tokens=False)["input_ids"]),
    ]
    plain = Scheduler(AdapterCache(generator, budget_bytes=2**30))
    try:
        expected = [t.future.result(120).text for t in [plain.submit(p, params, None, None) for p in prompts]]
    finally:
        plain.shutdown()
    cached = Scheduler(AdapterCache(generator, budget_bytes=2**30), prompt_cache=PromptCache(2**28))
    try:
        cached.submit(ids(TURNS[0]), params, None, None).future.result(120)  # caches the system prompt and turn
        with cached._cv:  # all three wait together, so they are admitted and prefilled in one group
            tickets = [cached.submit(p, params, None, None) for p in prompts]
        answers = [t.future.result(120) for t in tickets]
    finally:
        cached.shutdown()
    assert [a.text for a in answers] == expected
    reused = [a.extra["cached_tokens"] for a in answers]
    assert reused[0] > 0 and reused[1] > reused[0] and reused[2] == 0
