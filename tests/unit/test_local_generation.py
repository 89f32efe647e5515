"""Local generation on the real bundled model: batching changes nothing, scoring matches the model's loss."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tunesmith.eval.probe import correct, settled
from tunesmith.models.generation import GenerationParams
from tunesmith.models.local import LocalGenerator
from tunesmith.models.resolve import DEFAULT_MODEL
from tunesmith.models.spec import LocalModelRef

CHATS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a color of the rainbow."}],
    [{"role": "user", "content": "Say hello to a customer named Ava who asked about a late package."}],
]


@pytest.fixture(scope="module")
def generator() -> LocalGenerator:
    return LocalGenerator.load(LocalModelRef(id=DEFAULT_MODEL), Path("."))


def test_batched_greedy_equals_one_by_one(generator: LocalGenerator) -> None:
    params = GenerationParams(max_new_tokens=24)
    batched = generator.generate(CHATS, params)
    single = [generator.generate([chat], params)[0] for chat in CHATS]
    assert [b.text for b in batched] == [s.text for s in single]
    assert all(b.prompt_tokens == s.prompt_tokens for b, s in zip(batched, single, strict=True))


def test_stop_strings_and_finish_reasons(generator: LocalGenerator) -> None:
    free = generator.generate([CHATS[2]], GenerationParams(max_new_tokens=40))[0]
    word = free.text.split()[2]  # a word the model is going to write
    out = generator.generate([CHATS[2]], GenerationParams(max_new_tokens=40, stop=(word,)))[0]
    assert word not in out.text and out.finish_reason == "stop" and free.text.startswith(out.text)
    short = generator.generate([CHATS[2]], GenerationParams(max_new_tokens=3))[0]
    assert short.finish_reason == "length" and short.completion_tokens == 3


@pytest.mark.parametrize("decoding", ["continuous", "batched"])
def test_an_answer_ends_once_its_condition_holds(generator: LocalGenerator, decoding: str) -> None:
    generator.decoding = decoding
    params = GenerationParams(max_new_tokens=40)
    try:
        whole = generator.generate(CHATS, params)
        # the probe's condition on the first ("France" is said well before the answer ends), none on the
        # second, six characters on the third
        assert "France " in whole[0].text, "the answer names no France: the test could not fail"
        until = [lambda t: settled(t, ["France"]), lambda t: False, lambda t: len(t) >= 6]
        cut = generator.generate(CHATS, params, until=until)
    finally:
        generator.decoding = "continuous"
    assert cut[1].text == whole[1].text and cut[1].finish_reason == whole[1].finish_reason
    for short, full in (cut[0], whole[0]), (cut[2], whole[2]):
        assert full.text.startswith(short.text) and len(short.text) < len(full.text)
        assert short.finish_reason == "stop" and short.completion_tokens < full.completion_tokens
    assert correct(cut[0].text, ["France"]) and len(cut[2].text) < 12


@pytest.mark.parametrize("decoding", ["continuous", "batched"])
def test_prompts_with_their_own_token_limits_share_a_call_and_answer_as_alone(
    generator: LocalGenerator, decoding: str
) -> None:
    generator.decoding = decoding
    try:
        limits = [40, 4, 9]
        alone = [
            generator.generate([c], GenerationParams(max_new_tokens=n))[0] for c, n in zip(CHATS, limits, strict=True)
        ]
        together = generator.generate(CHATS, GenerationParams(), limits=limits)
    finally:
        generator.decoding = "continuous"
    assert alone[1].finish_reason == "length", "the short limit ends nothing: the test could not fail"
    assert [(g.text, g.finish_reason, g.completion_tokens) for g in together] == [
        (g.text, g.finish_reason, g.completion_tokens) for g in alone
    ]
    with pytest.raises(ValueError, match="token limit"):
        generator.generate(CHATS, GenerationParams(), limits=[4, 0, 4])


def test_every_path_reads_a_later_turn_from_the_ids_training_gives_it(generator: LocalGenerator) -> None:
    # an earlier answer that starts with a blank line: tokenized whole, its newlines merge with the header's
    chat = [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "\n\nParis."},
        {"role": "user", "content": "And the capital of Spain?"},
    ]
    text = generator.render(chat)
    ids = generator.encode(text)
    assert ids != generator.tokenizer(text, add_special_tokens=False)["input_ids"], "no cut: the test could not fail"
    params = GenerationParams(max_new_tokens=16)
    with torch.inference_mode():
        out = generator.model.generate(
            input_ids=torch.tensor([ids]), max_new_tokens=16, do_sample=False, eos_token_id=generator.stop_token_ids()
        )
    expected = generator.tokenizer.decode(out[0, len(ids) :], skip_special_tokens=True).strip()
    answers = []
    for decoding in ("continuous", "batched"):
        generator.decoding = decoding
        try:
            answers.append(generator.generate([chat, CHATS[0]], params)[0])
        finally:
            generator.decoding = "continuous"
    streamed = list(generator.stream(chat, params))  # the window scheduler's streaming
    assert [(a.text, a.prompt_tokens) for a in answers] == [(expected, len(ids))] * 2
    assert "".join(p.text for p in streamed) == expected and streamed[-1].prompt_tokens == len(ids)


def test_score_is_the_reference_loss(generator: LocalGenerator) -> None:
    reference = "The capital of France is Paris."
    nll = generator.score([CHATS[0]], [reference])[0]
    tok, model = generator.tokenizer, generator.model
    prompt = tok(generator.render(CHATS[0]), add_special_tokens=False)["input_ids"]
    answer = tok(reference, add_special_tokens=False)["input_ids"] + generator.stop_token_ids()[:1]
    ids = torch.tensor([prompt + answer])
    labels = torch.tensor([[-100] * len(prompt) + answer])
    with torch.inference_mode():
        expected = model(input_ids=ids, labels=labels).loss.item()
    assert nll == pytest.approx(expected, rel=1e-3)  # same loss; float summation order differs
    unlikely = generator.score([CHATS[0]], ["Zebra quantum marmalade."])[0]
    assert unlikely > nll


@pytest.mark.parametrize("held", ["once", "copied"])
def test_continuous_decoding_with_joins_and_a_shared_prefix_answers_as_batched(
    generator: LocalGenerator, monkeypatch: pytest.MonkeyPatch, held: str
) -> None:
    """The shared system prompt is prefilled once, and then held once for every row (models/cascade.py) or
    copied into each row's cache: either way every answer is the batched path's."""
    from tunesmith.models import cascade, kvcache

    system = (
        "You are the support assistant of a shop that sells tents, boots and camping stoves. "
        "Answer in one or two friendly sentences and sign with the shop's name. Returns are free within 30 days "
        "with the receipt, shipping is free over 50 dollars, and every stove comes with a two-year warranty."
    )
    questions = [
        "Do you ship to Canada?",
        "My boots leak after a week of use in the rain, what can I do about it?",
        "Hi",
        "Which stove is lightest?",
        "Can I return a tent I used once on a weekend trip if a pole broke on the first night?",
    ]
    chats = [[{"role": "system", "content": system}, {"role": "user", "content": q}] for q in questions]
    params = GenerationParams(max_new_tokens=20)
    shared = []
    monkeypatch.setattr(cascade, "ENABLED", held == "once")
    name = "sharing" if held == "once" else "repeated"
    real = getattr(kvcache, name)
    monkeypatch.setattr(kvcache, name, lambda *a: shared.append(a[1:]) or real(*a))
    monkeypatch.setattr(generator, "batch_size", 2)  # two rows: answers end and the next prompts join
    continuous = generator.generate(chats, params)
    monkeypatch.setattr(generator, "decoding", "batched")
    batched = generator.generate(chats, params)
    assert shared, "the system prompt the prompts share was not prefilled once"
    assert [c.text for c in continuous] == [b.text for b in batched]
    assert [c.finish_reason for c in continuous] == [b.finish_reason for b in batched]
    assert [c.completion_tokens for c in continuous] == [b.completion_tokens for b in batched]
    assert [c.prompt_tokens for c in continuous] == [b.prompt_tokens for b in batched]


def test_the_growing_cache_holds_what_transformers_cache_holds() -> None:
    import transformers

    from tunesmith.models import kvcache

    config = transformers.LlamaConfig(
        vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2
    )
    model = transformers.LlamaForCausalLM(config)
    growing, plain = kvcache.new_cache(model), transformers.DynamicCache(config=config)
    assert kvcache.editable(growing) and kvcache.editable(plain)
    torch.manual_seed(0)
    for n in (5, 1, 1, 70, 1, 130):  # past the first buffer's room, twice
        keys, values = torch.randn(3, 2, n, 8), torch.randn(3, 2, n, 8)
        for layer in (0, 1):
            got, want = growing.update(keys, values, layer), plain.update(keys, values, layer)
            assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    kvcache.drop_front(growing, 4)
    kvcache.drop_front(plain, 4)
    growing.batch_select_indices(torch.tensor([2, 0]))
    plain.batch_select_indices(torch.tensor([2, 0]))
    other = transformers.DynamicCache(config=config)
    for layer in (0, 1):
        other.update(torch.randn(1, 2, 9, 8), torch.randn(1, 2, 9, 8), layer)
    kvcache.stack(growing, other, growing.get_seq_length(0))
    kvcache.stack(plain, other, plain.get_seq_length(0))
    keys = torch.randn(3, 2, 1, 8)
    got, want = growing.update(keys, keys, 0), plain.update(keys, keys, 0)
    assert torch.equal(got[0], want[0]) and growing.get_seq_length(0) == plain.get_seq_length(0) == 205


def test_rows_that_leave_are_filled_from_the_end_without_copying_the_cache() -> None:
    """`keep_rows` keeps what a gather in its returned order keeps; on growing layers the buffer stays where it
    is (only the moved rows are copied), on transformers' own layers the rows are gathered in that order."""
    import transformers

    from tunesmith.models import kvcache

    config = transformers.LlamaConfig(
        vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2
    )
    model = transformers.LlamaForCausalLM(config)
    torch.manual_seed(0)
    steps = [(torch.randn(6, 2, n, 8), torch.randn(6, 2, n, 8)) for n in (7, 1, 1)]
    for cache in (kvcache.new_cache(model), transformers.DynamicCache(config=config)):
        for keys, values in steps:
            for layer in (0, 1):
                cache.update(keys, values, layer)
        before = [(layer.keys.clone(), layer.values.clone()) for layer in cache.layers]
        buffers = [layer.keys.data_ptr() for layer in cache.layers]
        order = kvcache.keep_rows(cache, [0, 2, 3, 5])
        assert sorted(order) == [0, 2, 3, 5] and order[:1] == [0]
        for layer, (keys, values) in zip(cache.layers, before, strict=True):
            assert torch.equal(layer.keys, keys[order]) and torch.equal(layer.values, values[order])
        growing = isinstance(cache.layers[0], kvcache._layer_class())
        assert ([layer.keys.data_ptr() for layer in cache.layers] == buffers) == growing
        keys = torch.randn(4, 2, 1, 8)
        for layer in (0, 1):
            got, _ = cache.update(keys, keys, layer)
            assert got.shape == (4, 2, 10, 8) and torch.equal(got[:, :, -1:], keys)


@pytest.mark.parametrize("decoding", ["continuous", "batched"])
def test_a_token_budget_narrows_the_batch_and_changes_no_answer(
    generator: LocalGenerator, monkeypatch: pytest.MonkeyPatch, decoding: str
) -> None:
    """Rows times (longest prompt + max_new_tokens) stay within `max_batch_tokens`; the answers are those of
    an unbounded batch."""
    from tunesmith.models import decode
    from tunesmith.models.batch import RunningBatch

    chats = [[{"role": "user", "content": f"Name {n} fruit{'s' if n > 1 else ''}, please."}] for n in range(1, 9)]
    params = GenerationParams(max_new_tokens=12)
    monkeypatch.setattr(generator, "decoding", decoding)
    wide = generator.generate(chats, params)
    widths: list[int] = []
    step_inputs = RunningBatch.step_inputs
    monkeypatch.setattr(RunningBatch, "step_inputs", lambda self: widths.append(self.rows) or step_inputs(self))
    real_decode = decode.decode
    monkeypatch.setattr(
        decode, "decode", lambda model, ids, *a, **k: widths.append(len(ids)) or real_decode(model, ids, *a, **k)
    )
    longest = max(generator.count_tokens(generator.render(c)) for c in chats)
    monkeypatch.setattr(generator, "max_batch_tokens", 3 * (longest + params.max_new_tokens))
    narrow = generator.generate(chats, params)
    assert widths and max(widths) == 3
    assert [n.text for n in narrow] == [w.text for w in wide]
