"""What answering needs, started on first use and shared by every request.

The local backend: the base model behind an adapter cache (fine-tunes are LoRA
adapters on the one loaded base, evicted least-recently-used past the memory
budget) and a batcher (concurrent requests share forward passes). The vLLM
backend instead forwards generation to a vLLM server. Knowledge bases for
retrieval open on first use too; the project's own is brought up to date first.
"""

from __future__ import annotations

import threading
from typing import Any

from tunesmith.core.errors import TunesmithError
from tunesmith.knowledge.rag import RuntimeRag
from tunesmith.project import LoadedProject
from tunesmith.serve.adapters import AdapterCache
from tunesmith.serve.batcher import Batcher
from tunesmith.serve.catalog import ModelCatalog


class Engine:
    def __init__(self, project: LoadedProject, catalog: ModelCatalog) -> None:
        self.project = project
        self.catalog = catalog
        self._lock = threading.Lock()
        self._rag_lock = threading.Lock()
        self._batcher: Batcher | None = None
        self._vllm: Any = None
        self._rags: dict[str, RuntimeRag] = {}

    def batcher(self) -> Batcher:
        cfg = self.project.config.serve
        with self._lock:
            if self._batcher is None:
                budget = int(cfg.adapter_memory_mb * 2**20)
                cache = AdapterCache(self.catalog.generator(), budget_bytes=budget)
                self._batcher = Batcher(cache, window_s=cfg.batch_window_ms / 1000, max_batch=cfg.max_batch)
            return self._batcher

    def vllm(self) -> Any:
        from tunesmith.serve.vllm import VllmBackend

        cfg = self.project.config.serve
        with self._lock:
            if self._vllm is None:
                if not cfg.vllm_url:
                    raise TunesmithError("serve.backend is vllm but serve.vllm_url is not set", where="serve.vllm_url")
                model = cfg.vllm_model or self.catalog.base_id
                self._vllm = VllmBackend(cfg.vllm_url, model, api_key_env=cfg.vllm_api_key_env)
            return self._vllm

    def rag(self, name: str | None = None) -> RuntimeRag:
        """The project's own knowledge base (brought up to date on first use), or another index by name
        (built with `tunesmith kb ingest --kb NAME`)."""
        knowledge = self.project.config.knowledge
        key = name or knowledge.name
        with self._rag_lock:
            if key not in self._rags:
                if key == knowledge.name:
                    from tunesmith.knowledge.ingest import ingest

                    ingest(knowledge, self.project.dir)
                self._rags[key] = RuntimeRag.open(knowledge, self.project.dir, key, min_relevance=self.relevance())
            return self._rags[key]

    def relevance(self) -> float | None:
        """The relevance gate: `knowledge.relevance` as set, or as the newest data build calibrated it."""
        from tunesmith.knowledge.rag import relevance_threshold
        from tunesmith.registry.runs import latest_run

        setting = self.project.config.knowledge.relevance
        data = latest_run(self.project.dir, "data") if setting == "auto" else None
        manifest = data.read_json("manifest.json") if data and data.path("manifest.json").is_file() else None
        return relevance_threshold(setting, manifest)

    def stats(self) -> dict[str, Any]:
        """Adapter cache and batching counts, once the local backend has started."""
        if self._batcher is None:
            return {}
        batcher = self._batcher
        return {
            "adapters": batcher.cache.stats(),
            "batches": {"batches": batcher.batches, "requests": batcher.requests},
        }
