"""Continuous request batching: concurrent chat requests share forward passes.

Requests arriving within a short window are grouped by adapter and sampling
settings and generated as one batch; a request waits at most the window before
its batch starts. On 2 CPU cores eight concurrent clients get several times the
throughput of the same requests one by one (bench/serve.py).
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesmith.models.generation import Generation, GenerationParams
from tunesmith.serve.adapters import AdapterCache


@dataclass
class _Request:
    messages: list[dict[str, Any]]
    params: GenerationParams
    adapter: str | None
    adapter_path: Path | None
    future: Future[Generation] = field(default_factory=Future)


class Batcher:
    def __init__(self, cache: AdapterCache, *, window_s: float = 0.02, max_batch: int = 16) -> None:
        self.cache = cache
        self.window_s = window_s
        self.max_batch = max_batch
        self._queue: queue.Queue[_Request] = queue.Queue()
        self.batches = 0
        self.requests = 0
        threading.Thread(target=self._loop, daemon=True, name="tunesmith-batcher").start()

    def submit(
        self, messages: list[dict[str, Any]], params: GenerationParams, adapter: str | None, adapter_path: Path | None
    ) -> Future[Generation]:
        request = _Request(messages, params, adapter, adapter_path)
        self._queue.put(request)
        return request.future

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            pending = [first]
            deadline = time.monotonic() + self.window_s
            while len(pending) < self.max_batch * 4:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    pending.append(self._queue.get(timeout=left))
                except queue.Empty:
                    break
            groups: dict[tuple[Any, ...], list[_Request]] = {}
            for request in pending:
                groups.setdefault((request.adapter, request.params), []).append(request)
            for (adapter, params), requests in groups.items():
                self._run(adapter, params, requests)

    def _run(self, adapter: str | None, params: GenerationParams, requests: list[_Request]) -> None:
        try:
            with self.cache.lock:
                if adapter is not None:
                    self.cache.ensure(adapter, requests[0].adapter_path)  # type: ignore[arg-type]
                outputs = self.cache.generator.generate([r.messages for r in requests], params, adapter=adapter)
            self.batches += 1
            self.requests += len(requests)
            for request, output in zip(requests, outputs, strict=True):
                request.future.set_result(output)
        except BaseException as exc:  # every waiting request hears about it
            for request in requests:
                if not request.future.done():
                    request.future.set_exception(exc)
