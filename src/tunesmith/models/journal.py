"""A crash-safe journal of generations, so a killed synthesis resumes with nothing lost or repeated.

Every finished generation is appended as one JSON line (flushed and fsynced per
batch) under a key that hashes what produced it: the step, the model, the
exact messages and the sampling settings. A rerun looks each request up before
sending it, so completed work is never requested twice, whatever order it is
asked in, and outputs are assembled from the journal, so a row appears once.

Several processes may share a journal: the answers cache is one file per base
model for all of a user's projects, written by tuning workers side by side, an
evaluation beside a server's fine-tuning job, two data builds. A batch is
appended in one write under an exclusive lock on the file and read under a
shared one, so lines of two processes never interleave and no reader takes a
batch still being written for a torn one. A line torn by a kill mid-write
(the only way one ends without a newline) is left out when read and cut off
by the next append, under the lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunesmith.core.jsonl import cut_torn_tail
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
        with self.path.open("rb") as f:
            fcntl.flock(f, fcntl.LOCK_SH)  # released on close
            raw = f.read()
        for line in raw.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break  # torn by a kill mid-write: the next append cuts it
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # damaged some other way: that answer is asked again, the lines after it are kept
            self._entries[entry["key"]] = entry
        self.resumed = len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> dict[str, Any]:
        return self._entries[key]

    def put_many(self, entries: list[dict[str, Any]]) -> None:
        data = "".join(json.dumps(entry, ensure_ascii=False) + "\n" for entry in entries).encode("utf-8")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released on close
            cut_torn_tail(fd)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
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
