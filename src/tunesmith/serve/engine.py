"""What answering needs, started on first use and shared by every request.

The local backend: the base model behind an adapter cache (fine-tunes are LoRA
adapters on the one loaded base, evicted least-recently-used past the memory
budget) and a scheduler (continuous batching: concurrent requests share forward
passes, joining and leaving between steps; or the older window batcher). The vLLM
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
from tunesmith.serve.prompt_cache import PromptCache
from tunesmith.serve.scheduler import Scheduler


class Engine:
    def __init__(self, project: LoadedProject, catalog: ModelCatalog) -> None:
        self.project = project
        self.catalog = catalog
        self._lock = threading.Lock()
        self._rag_lock = threading.Lock()
        self._cache: AdapterCache | None = None
        self._batcher: Batcher | None = None
        self._scheduler: Scheduler | None = None
        self._tokenizer: Any = None
        self._context: int | None = None
        self._vllm: Any = None
        self._rags: dict[str, RuntimeRag] = {}

    def _adapter_cache(self) -> AdapterCache:
        if self._cache is None:
            budget = int(self.project.config.serve.adapter_memory_mb * 2**20)
            self._cache = AdapterCache(self.catalog.generator(), budget_bytes=budget)
        return self._cache

    def batcher(self) -> Batcher:
        cfg = self.project.config.serve
        with self._lock:
            if self._batcher is None:
                self._batcher = Batcher(
                    self._adapter_cache(), window_s=cfg.batch_window_ms / 1000, max_batch=cfg.max_batch
                )
            return self._batcher

    def scheduler(self) -> Scheduler:
        cfg = self.project.config.serve
        with self._lock:
            if self._scheduler is None:
                self._scheduler = Scheduler(
                    self._adapter_cache(),
                    max_batch=cfg.max_batch,
                    max_batch_tokens=cfg.max_batch_tokens,
                    prefill_chunk=self._prefill_chunk(),
                    max_queue=cfg.max_queue,
                    max_wait_s=cfg.max_wait_s,
                    prompt_cache=PromptCache(int(cfg.prompt_cache_mb * 2**20)) if cfg.prompt_cache_mb > 0 else None,
                )
            return self._scheduler

    def _prefill_chunk(self) -> int:
        setting = self.project.config.serve.prefill_chunk
        if setting != "auto":
            return int(setting)
        return 2048 if self.catalog.generator().model.device.type == "cuda" else 128

    def tokenizer(self) -> Any:
        """The base model's tokenizer (with its chat template), for counting a request before it is queued."""
        with self._lock:
            if self._tokenizer is None:
                if self.project.config.serve.backend == "local":
                    self._tokenizer = self.catalog.generator().tokenizer
                else:
                    from tunesmith.models.local import tokenizer_for

                    self._tokenizer = tokenizer_for(self.project.config.base_model, self.project.dir)
            return self._tokenizer

    def context_length(self) -> int:
        """serve.max_context, else the model's context (its config's positions, else the tokenizer's limit)."""
        if self._context is None:
            setting = self.project.config.serve.max_context
            found = setting
            if found is None and self.project.config.serve.backend == "local":
                found = getattr(self.catalog.generator().model.config, "max_position_embeddings", None)
            if found is None:
                limit = getattr(self.tokenizer(), "model_max_length", None)
                found = limit if isinstance(limit, int) and limit < 10**7 else 4096
            self._context = int(found)
        return self._context

    def shutdown(self, timeout: float = 5.0) -> None:
        """Cancel what is generating (the server is stopping)."""
        if self._scheduler is not None:
            self._scheduler.shutdown(timeout)

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
        out: dict[str, Any] = {}
        if self._cache is not None:
            out["adapters"] = self._cache.stats()
        if self._batcher is not None:
            out["batches"] = {"batches": self._batcher.batches, "requests": self._batcher.requests}
        if self._scheduler is not None:
            out["scheduler"] = self._scheduler.stats()
        return out
