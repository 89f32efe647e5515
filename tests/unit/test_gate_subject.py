"""The gate's model under test decodes all its probes' prompts in one running batch, each answering as alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.tiny_model import tiny_generator_with_adapter
from tunesmith.gate.subject import ModelSubject
from tunesmith.knowledge.config import KnowledgeConfig


class _Pool:
    def __init__(self, generator: Any) -> None:
        self.generator = generator

    def local(self, ref: Any) -> Any:
        return self.generator


def _subject(generator: Any, tmp_path: Path) -> ModelSubject:
    return ModelSubject(
        pool=_Pool(generator),
        base=None,
        weights=None,
        system_prompt="You answer for Northwind.",
        knowledge=KnowledgeConfig(),
        project_dir=tmp_path,
    )


def test_prefetched_probes_share_one_call_and_answer_as_asked_one_by_one(tiny_model: Path, tmp_path: Path) -> None:
    generator = tiny_generator_with_adapter(tiny_model, batch_size=16)
    chats = [("finetuned", "Where is my order?", 12), ("finetuned", "Write me a poem.", 5)]
    texts = [("finetuned", "<|im_start|>user\nMy phone number is", 4)]
    alone = _subject(generator, tmp_path)
    expected = [alone.answer(s, [i], n)[0] for s, i, n in chats] + [alone.complete(s, [t], n)[0] for s, t, n in texts]

    calls: list[int] = []
    original = generator.complete

    def complete(texts: list[str], params: Any, **kwargs: Any) -> Any:
        calls.append(len(texts))
        return original(texts, params, **kwargs)

    generator.complete = complete
    subject = _subject(generator, tmp_path)
    subject.prefetch(chats, texts)
    got = [subject.answer(s, [i], n)[0] for s, i, n in chats] + [subject.complete(s, [t], n)[0] for s, t, n in texts]
    assert calls == [3]  # one call for all three; the probes then read their answers
    assert [(g.text, g.completion_tokens, g.finish_reason) for g in got] == [
        (g.text, g.completion_tokens, g.finish_reason) for g in expected
    ]
    assert {g.completion_tokens for g in expected} == {12, 5, 4}, "a random model runs to each limit"
    subject.answer("finetuned", ["Something not prefetched"], 3)
    assert calls == [3, 1]
