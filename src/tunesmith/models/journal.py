"""A crash-safe journal of generations, so a killed synthesis resumes with nothing lost or repeated.

Every finished generation is appended as one JSON line (flushed and fsynced per
batch) under a key that hashes what produced it: the step, the model, the
exact messages and the sampling settings. A rerun looks each request up before
sending it, so completed work is never requested twice, whatever order it is
asked in, and outputs are assembled from the journal, so a row appears once.
A line torn by a kill mid-write is cut off on open.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunesmith.models.generation import GenerationParams, Generator
from tunesmith.models.local import LocalGenerator
from tunesmith.models.spec import LocalModelRef


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: dict[str, dict[str, Any]] = {}
        self.resumed = 0
        if path.exists():
            self._load()
        path.parent.mkdir(parents=True, exist_ok=True)

    def _load(self) -> None:
        raw = self.path.read_bytes()
        good = 0
        for line in raw.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break  # torn by a kill mid-write
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                break
            self._entries[entry["key"]] = entry
            good += len(line)
        if good < len(raw):
            with self.path.open("r+b") as f:
                f.truncate(good)
        self.resumed = len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> dict[str, Any]:
        return self._entries[key]

    def put_many(self, entries: list[dict[str, Any]]) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            for entry in entries:
                f.write(json.dumps(entry, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        for entry in entries:
            self._entries[entry["key"]] = entry

    @staticmethod
    def key(step: str, model: str, chat: list[dict[str, Any]], params: GenerationParams) -> str:
        payload = json.dumps(
            [
                step,
                model,
                chat,
                params.max_new_tokens,
                params.temperature,
                params.top_p,
                list(params.stop),
                params.seed,
            ],
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:32]


def answers_journal(ref: LocalModelRef, base_dir: Path) -> Journal:
    """The journal of what a local model (these exact weights) answered, kept in the user's cache: general
    prompts asked of the base model once (replay, the retention probe) are never asked again."""
    from tunesmith.core.paths import cache_dir
    from tunesmith.models.resolve import weights_fingerprint

    name = ref.display_name.replace("/", "_")
    return Journal(cache_dir() / "answers" / f"{name}-{weights_fingerprint(ref, base_dir)}.jsonl")


def generate_journaled(
    generator: Generator,
    chats: list[list[dict[str, Any]]],
    params: GenerationParams,
    journal: Journal,
    *,
    step: str,
    batch_size: int,
    on_progress: Callable[[int], None] | None = None,
    until: list[Callable[[str], bool]] | None = None,
) -> list[dict[str, Any]]:
    """Journal entries ({text, finish_reason, ...}) for every chat, generating only the missing ones.

    Batches of ``batch_size`` go to the generator at once (a local model batches them; an endpoint
    sends them concurrently, bounded by its max_concurrency), and each finished batch is journaled.
    """
    keys = [Journal.key(step, generator.name, chat, params) for chat in chats]
    waiting = Counter(k for k in keys if k not in journal)
    first_index = {k: keys.index(k) for k in waiting}
    if on_progress is not None:
        on_progress(len(chats) - sum(waiting.values()))
    pending = list(first_index.items())
    for start in range(0, len(pending), batch_size):
        batch = pending[start : start + batch_size]
        batch_chats = [chats[i] for _, i in batch]
        if until is not None and isinstance(generator, LocalGenerator):
            # a local model stops each answer once its condition holds; an endpoint answers whole
            outputs = generator.generate(batch_chats, params, until=[until[i] for _, i in batch])
        else:
            outputs = generator.generate(batch_chats, params)
        journal.put_many(
            [
                {
                    "key": key,
                    "step": step,
                    "model": generator.name,
                    "text": out.text,
                    "finish_reason": out.finish_reason,
                    "completion_tokens": out.completion_tokens,
                }
                for (key, _), out in zip(batch, outputs, strict=True)
            ]
        )
        if on_progress is not None:
            on_progress(sum(waiting[k] for k, _ in batch))
    return [journal.get(k) for k in keys]
