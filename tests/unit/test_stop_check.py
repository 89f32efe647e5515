"""The stop check after training asks again only what the last evaluation's samples left open: an answer of the
kept weights that already ended by itself is not decoded a second time (tiny random model)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tunesmith.models.local import LocalGenerator
from tunesmith.train.sft import sampled_endings, stop_check


def _records(n: int) -> list[dict[str, Any]]:
    return [
        {
            "messages": [
                {"role": "system", "content": "You are a support assistant."},
                {"role": "user", "content": f"Where is order {i}?"},
                {"role": "assistant", "content": f"Order {i} ships tomorrow."},
            ]
        }
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def tiny(tiny_model: Path) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32), AutoTokenizer.from_pretrained(
        tiny_model
    )


def test_only_answers_the_samples_left_open_are_decoded(tiny: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    model, tokenizer = tiny
    asked: list[list[str]] = []
    ended: list[list[bool]] = []
    generate = LocalGenerator.generate

    def counting(self: LocalGenerator, chats: list[Any], params: Any, **kw: Any) -> Any:
        asked.append([c[-1]["content"] for c in chats])
        outputs = generate(self, chats, params, **kw)
        ended.append([o.finish_reason == "stop" for o in outputs])
        return outputs

    monkeypatch.setattr(LocalGenerator, "generate", counting)
    records = _records(4)
    everything = stop_check(model, tokenizer, records, "tiny", n=4)
    assert asked == [[f"Where is order {i}?" for i in range(4)]] and everything == sum(ended[0]) / 4

    asked.clear()
    assert stop_check(model, tokenizer, records, "tiny", n=4, ended=[True] * 4) == 1.0
    assert asked == []  # every answer already ended: nothing decoded

    asked.clear()
    ended.clear()
    # the first ended at the evaluation, the second was cut there, the last two were not sampled
    mixed = stop_check(model, tokenizer, records, "tiny", n=4, ended=[True, False])
    assert asked == [["Where is order 1?", "Where is order 2?", "Where is order 3?"]]
    assert mixed == (1 + sum(ended[0])) / 4


def test_samples_are_reused_only_for_the_weights_they_came_from() -> None:
    class Sampling:
        ended = {28: [True, False, True, True], 56: [True, True, True, True]}

    last = {"which": "last", "step": 56}
    assert sampled_endings(Sampling(), last, 56) == [True, True, True, True]
    # the last evaluation came before the last step: the final weights were never sampled
    assert sampled_endings(Sampling(), {"which": "last", "step": 56}, 60) is None
    best = {"which": "best", "step": 28, "last_step": 56}
    assert sampled_endings(Sampling(), best, 56) == [True, False, True, True]
    assert sampled_endings(Sampling(), {"which": "best", "step": 14}, 56) is None  # evaluated before a resume
    assert sampled_endings(None, last, 56) is None and sampled_endings(Sampling(), None, 56) is None
