"""The model under test for the gates that make it answer: base model plus the evaluated weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunesmith.data.instruction import chat
from tunesmith.models.generation import Generation, GenerationParams, Generator

ADAPTER = "gated"


class ModelSubject:
    """Answers as the evaluated system does: same system prompt, same runtime retrieval for `+rag`."""

    def __init__(
        self,
        *,
        pool: Any,
        base: Any,
        weights: Path | None,
        system_prompt: str,
        knowledge: Any,
        project_dir: Path,
        judge: Generator | None = None,
        relevance: float | None = None,
    ) -> None:
        self.base = pool.local(base)
        self.finetuned, self.adapter = self.base, None
        if weights is not None:
            if (weights / "adapter_config.json").is_file():
                if ADAPTER not in self.base.adapters:
                    self.base.add_adapter(ADAPTER, weights)
                self.adapter = ADAPTER
            else:  # a full fine-tune: its own weights
                self.finetuned = pool.local(base.model_copy(update={"id": str(weights), "name": "finetuned"}))
        self.system_prompt = system_prompt
        self.knowledge = knowledge
        self.project_dir = project_dir
        self._judge = judge
        self._relevance = relevance  # the relevance gate the evaluation used
        self._rag: Any = None

    @property
    def judge(self) -> Any | None:
        return self._judge

    def _model(self, system: str) -> tuple[Any, str | None]:
        return (self.finetuned, self.adapter) if system.startswith("finetuned") else (self.base, None)

    def answer(self, system: str, inputs: list[str], max_new_tokens: int) -> list[Generation]:
        points: list[list[str] | None] = [None] * len(inputs)
        if system.endswith("+rag"):
            if self._rag is None:
                from tunesmith.knowledge.ingest import ingest
                from tunesmith.knowledge.rag import RuntimeRag

                ingest(self.knowledge, self.project_dir)
                self._rag = RuntimeRag.open(self.knowledge, self.project_dir, min_relevance=self._relevance)
            points = [[p.text for p in picked] for picked in self._rag.points_for(inputs)]
        chats = [chat(self.system_prompt or None, text, pts) for text, pts in zip(inputs, points, strict=True)]
        generator, adapter = self._model(system)
        return generator.generate(chats, GenerationParams(max_new_tokens=max_new_tokens), adapter=adapter)

    def complete(self, system: str, texts: list[str], max_new_tokens: int) -> list[Generation]:
        generator, adapter = self._model(system)
        return generator.complete(texts, GenerationParams(max_new_tokens=max_new_tokens), adapter=adapter)

    def render_training(self, messages: list[dict[str, Any]]) -> str:
        """A training example exactly as the trainer rendered it (chat template, no generation prompt)."""
        return str(self.base.tokenizer.apply_chat_template(messages, tokenize=False))
