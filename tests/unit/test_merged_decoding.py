"""Offline decoding through one adapter merges it for the run, exactly, and leaves the base bit for bit."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.tiny_model import tiny_generator_with_adapter
from tunesmith.models import local
from tunesmith.models.generation import GenerationParams
from tunesmith.models.local import LocalGenerator

CHATS = [
    [{"role": "user", "content": "Where is my order?"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Can I return boots?"}],
]


@pytest.fixture()
def generator(tiny_model: Path) -> LocalGenerator:
    return tiny_generator_with_adapter(tiny_model, batch_size=4)


def base_weights(generator: LocalGenerator) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in generator.model.named_parameters() if "lora_" not in n}


def logits(generator: LocalGenerator) -> torch.Tensor:
    ids = torch.tensor([[1, 5, 9, 30, 7]])
    with torch.inference_mode():
        return generator.model(input_ids=ids).logits


def test_a_run_with_one_adapter_is_merged_and_the_base_restored_bit_for_bit(generator: LocalGenerator) -> None:
    before = base_weights(generator)
    with generator._using("tuned"):
        adapted = logits(generator)
    with generator._using(None):
        plain = logits(generator)
    assert not torch.allclose(adapted, plain, atol=1e-3), "the adapter changes nothing: the test could not fail"

    with generator._decoding("tuned"):
        merged = generator.model.base_model.model.model.layers[0].self_attn.q_proj.merged
        during = logits(generator)
    assert merged, "the adapter was not merged for the run"
    torch.testing.assert_close(during, adapted, atol=1e-5, rtol=1e-5)
    after = base_weights(generator)
    assert all(torch.equal(before[n], after[n]) for n in before), "the base weights drifted"
    with generator._using(None):
        torch.testing.assert_close(logits(generator), plain, atol=0, rtol=0)


def test_generation_merges_for_its_adapter_only(generator: LocalGenerator, monkeypatch: pytest.MonkeyPatch) -> None:
    merges: list[str] = []
    real = generator.model.merge_adapter
    monkeypatch.setattr(generator.model, "merge_adapter", lambda *a, **k: merges.append("merge") or real(*a, **k))
    params = GenerationParams(max_new_tokens=6)
    tuned = generator.generate(CHATS, params, adapter="tuned")
    assert merges == ["merge"]
    generator.generate(CHATS, params)  # the base model: nothing to merge
    assert merges == ["merge"]
    monkeypatch.setattr(LocalGenerator, "_merge_copies", lambda self, adapter: None)
    unmerged = generator.generate(CHATS, params, adapter="tuned")
    assert [t.completion_tokens for t in tuned] == [u.completion_tokens for u in unmerged]


def test_no_merge_when_the_copy_does_not_fit_or_the_model_is_training(
    generator: LocalGenerator, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert generator._merge_copies("tuned") is not None
    monkeypatch.setattr(local, "free_memory", lambda device: 1024)
    assert generator._merge_copies("tuned") is None
    monkeypatch.undo()
    generator.model.train()
    assert generator._merge_copies("tuned") is None
