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
        # (kind, system, prompt, max_new_tokens) -> what the model said: a gate probe asks each prompt once
        self._answers: dict[tuple[str, str, str, int], Generation] = {}

    @property
    def judge(self) -> Any | None:
        return self._judge

    def _model(self, system: str) -> tuple[Any, str | None]:
        return (self.finetuned, self.adapter) if system.startswith("finetuned") else (self.base, None)

    def _texts(self, system: str, inputs: list[str]) -> list[str]:
        """The prompts as ``system`` sees them: the project's system prompt, retrieval for `+rag`, rendered."""
        points: list[list[str] | None] = [None] * len(inputs)
        if system.endswith("+rag"):
            if self._rag is None:
                from tunesmith.knowledge.ingest import ingest
                from tunesmith.knowledge.rag import RuntimeRag

                ingest(self.knowledge, self.project_dir)
                self._rag = RuntimeRag.open(self.knowledge, self.project_dir, min_relevance=self._relevance)
            points = [[p.text for p in picked] for picked in self._rag.points_for(inputs)]
        generator, _ = self._model(system)
        chats = [chat(self.system_prompt or None, text, pts) for text, pts in zip(inputs, points, strict=True)]
        return [generator.render(c) for c in chats]

    def prefetch(self, chats: list[tuple[str, str, int]], texts: list[tuple[str, str, int]]) -> None:
        """Decode now, one running batch per model, what the gate's probes will ask: ``chats`` as
        (system, input, max_new_tokens), ``texts`` (raw continuations) likewise; `answer` and `complete`
        then read them. A few rows decode nearly as slowly as a full batch on a CPU, so the regression suite,
        the refusal check and the personal-data probe asked one after another took three batches' time."""
        wanted: dict[tuple[Any, str | None], list[tuple[tuple[str, str, str, int], str, int]]] = {}
        for kind, requests in (("chat", chats), ("text", texts)):
            for system, value, limit in requests:
                key = (kind, system, value, limit)
                if key in self._answers:
                    continue
                rendered = self._texts(system, [value])[0] if kind == "chat" else value
                wanted.setdefault(self._model(system), []).append((key, rendered, limit))
        for (generator, adapter), rows in wanted.items():
            unique = list({key: (key, text, limit) for key, text, limit in rows}.values())
            outputs = generator.complete(
                [text for _, text, _ in unique],
                GenerationParams(),
                adapter=adapter,
                limits=[limit for _, _, limit in unique],
            )
            for (key, _, _), output in zip(unique, outputs, strict=True):
                self._answers[key] = output

    def answer(self, system: str, inputs: list[str], max_new_tokens: int) -> list[Generation]:
        return self._asked("chat", system, inputs, max_new_tokens)

    def complete(self, system: str, texts: list[str], max_new_tokens: int) -> list[Generation]:
        return self._asked("text", system, texts, max_new_tokens)

    def _asked(self, kind: str, system: str, values: list[str], max_new_tokens: int) -> list[Generation]:
        """Answers already decoded by `prefetch`, the rest decoded now."""
        keys = [(kind, system, v, max_new_tokens) for v in values]
        missing = [i for i, key in enumerate(keys) if key not in self._answers]
        if missing:
            generator, adapter = self._model(system)
            asked = [values[i] for i in missing]
            texts = self._texts(system, asked) if kind == "chat" else asked
            outputs = generator.complete(texts, GenerationParams(max_new_tokens=max_new_tokens), adapter=adapter)
            for i, output in zip(missing, outputs, strict=True):
                self._answers[keys[i]] = output
        return [self._answers[key] for key in keys]

    def render_training(self, messages: list[dict[str, Any]]) -> str:
        """A training example exactly as the trainer rendered it (chat template, no generation prompt)."""
        return str(self.base.tokenizer.apply_chat_template(messages, tokenize=False))
