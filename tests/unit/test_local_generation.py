"""Local generation on the real bundled model: batching changes nothing, scoring matches the model's loss."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

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
