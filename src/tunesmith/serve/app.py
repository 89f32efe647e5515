"""The OpenAI-compatible API: `/v1/models` and `/v1/chat/completions`, base and fine-tuned models, with retrieval.

Fine-tuned adapters share the one loaded base model (PEFT adapters switched per
request), so serving another fine-tune costs its adapter's memory, not another
copy of the base. Retrieval is per request: the last user turn gets the
knowledge-base points in the same format the model was trained on, and the
response carries the citations in a `tunesmith` field the openai client keeps.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.core.deps import require
from tunesmith.core.errors import TunesmithError
from tunesmith.data.instruction import user_turn
from tunesmith.knowledge.rag import RuntimeRag
from tunesmith.models.generation import GenerationParams
from tunesmith.models.local import LocalGenerator
from tunesmith.models.pool import ModelPool
from tunesmith.project import LoadedProject
from tunesmith.registry.runs import list_runs
from tunesmith.serve.adapters import AdapterCache
from tunesmith.serve.batcher import Batcher
from tunesmith.serve.jobstore import JobStore
from tunesmith.serve.openai_schema import ChatRequest, EmbeddingRequest, error_body


@dataclass
class ServedModel:
    id: str
    adapter: str | None  # adapter name on the base generator, None for the base itself
    adapter_path: Path | None
    created: int
    owned_by: str = "tunesmith"


ALIAS_TTL_S = 5.0


def adapter_name(path: Path) -> str:
    # one name per adapter folder, however many ids point at it; identifier-safe for PEFT's module names
    return "ft_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]


class ModelCatalog:
    """The base model, every succeeded training run's adapter, every fine-tuning job's model and its
    checkpoints, by OpenAI-style id."""

    def __init__(self, project: LoadedProject, pool: ModelPool, store: JobStore | None = None) -> None:
        self.project = project
        self.pool = pool
        self.store = store
        self._lock = threading.Lock()
        self._generator: LocalGenerator | None = None
        self._aliases: tuple[float, list[ServedModel]] = (0.0, [])

    @property
    def base_id(self) -> str:
        return self.project.config.base_model.display_name

    def _served(self, model_id: str, adapter: Path, owner: str) -> ServedModel:
        return ServedModel(model_id, adapter_name(adapter), adapter, int(adapter.stat().st_mtime), owner)

    def models(self) -> list[ServedModel]:
        base = self.base_id
        name = self.project.config.name
        out = [ServedModel(base, None, None, int(self.project.file.stat().st_mtime))]
        runs = {run.id: run for run in list_runs(self.project.dir, "train")}
        for run in runs.values():
            adapter = run.path("adapter")
            if run.status == "succeeded" and (adapter / "adapter_config.json").is_file():
                out.append(self._served(f"ft:{base}:{name}:{run.id}", adapter, name))
        if self.store is not None:
            for job in self.store.list_jobs(limit=10_000)[0]:
                run = runs.get(job.get("train_run") or "")
                if run is None:
                    continue
                model_id = job.get("fine_tuned_model") or f"ft:{base}:{job.get('suffix') or 'tunesmith'}:" + job[
                    "id"
                ].removeprefix("ftjob-")
                adapter = run.path("adapter")
                if job["status"] == "succeeded" and (adapter / "adapter_config.json").is_file():
                    out.append(self._served(model_id, adapter, name))
                for checkpoint in self.store.checkpoints(job["id"]):
                    folder = self.project.dir / checkpoint["path"]
                    if (folder / "adapter_config.json").is_file():
                        out.append(self._served(f"{model_id}:ckpt-step-{checkpoint['step']}", folder, name))
        return out + self._registry_aliases()

    def _registry_aliases(self) -> list[ServedModel]:
        """`NAME@ALIAS` for every alias in the model registry (`tunesmith promote` moves them), so clients
        ask for `support@production` and get whatever passed its gate last; re-read every few seconds."""
        import time

        checked, cached = self._aliases
        if time.monotonic() - checked < ALIAS_TTL_S:
            return cached
        found: list[ServedModel] = []
        tracking = self.project.config.tracking
        from tunesmith.registry.tracking import STORE_FOLDER

        local_store = (self.project.dir / STORE_FOLDER / "mlflow.db").is_file()
        if tracking.enabled and (tracking.uri or local_store):
            try:
                from tunesmith.registry.tracking import Tracker

                tracker = Tracker(tracking, self.project.dir, self.project.config.name)
                model = tracker.client.get_registered_model(tracker.model_name)
                for alias, version in (model.aliases or {}).items():
                    weights = tracker.client.get_model_version(model.name, version).tags.get("tunesmith.weights")
                    if weights and (Path(weights) / "adapter_config.json").is_file():
                        found.append(self._served(f"{model.name}@{alias}", Path(weights), model.name))
            except Exception:  # no registered model yet, or the store is unreachable: serve the rest
                found = []
        self._aliases = (time.monotonic(), found)
        return found

    def find(self, model_id: str) -> ServedModel | None:
        return next((m for m in self.models() if m.id == model_id), None)

    def generator(self) -> LocalGenerator:
        with self._lock:
            if self._generator is None:
                self._generator = self.pool.local(self.project.config.base_model)
            return self._generator


def state_dir(project_dir: Path) -> Path:
    return project_dir / ".tunesmith" / "serve"


def create_app(
    project: LoadedProject,
    *,
    pool: ModelPool | None = None,
    api_keys: list[str] | None = None,
    require_keys: bool = False,
) -> Any:
    """The API. Keys: those in ``api_keys`` (e.g. from the environment) and those created with
    `tunesmith serve --create-key`; only their SHA-256 digests are kept. With any key known, or
    ``require_keys``, every /v1 request must carry one."""
    fastapi = require("fastapi", purpose="the HTTP API")
    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, StreamingResponse

    from tunesmith.serve.finetuning import add_routes

    cfg = project.config
    store = JobStore(state_dir(project.dir))
    catalog = ModelCatalog(project, pool or ModelPool(project.dir), store)
    rag_holder: dict[str, RuntimeRag] = {}
    rag_lock = threading.Lock()
    engine: dict[str, Any] = {}
    engine_lock = threading.Lock()
    app = fastapi.FastAPI(title="tunesmith", version="1", docs_url="/docs")
    app.state.catalog = catalog
    app.state.store = store
    env_hashes = {hashlib.sha256(k.encode()).hexdigest() for k in api_keys or []}

    def key_hashes() -> set[str]:
        return env_hashes | store.key_hashes()

    if cfg.serve.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=cfg.serve.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )

    def batcher() -> Batcher:
        with engine_lock:
            if "batcher" not in engine:
                cache = AdapterCache(catalog.generator(), budget_bytes=int(cfg.serve.adapter_memory_mb * 2**20))
                engine["cache"] = cache
                engine["batcher"] = Batcher(
                    cache, window_s=cfg.serve.batch_window_ms / 1000, max_batch=cfg.serve.max_batch
                )
            return engine["batcher"]  # type: ignore[no-any-return]

    app.state.batcher = batcher

    def vllm() -> Any:
        from tunesmith.serve.vllm import VllmBackend

        with engine_lock:
            if "vllm" not in engine:
                if not cfg.serve.vllm_url:
                    raise TunesmithError("serve.backend is vllm but serve.vllm_url is not set", where="serve.vllm_url")
                engine["vllm"] = VllmBackend(
                    cfg.serve.vllm_url,
                    cfg.serve.vllm_model or catalog.base_id,
                    api_key_env=cfg.serve.vllm_api_key_env,
                )
            return engine["vllm"]

    add_routes(
        app,
        store,
        base_model_ids=lambda: {catalog.base_id},
        max_upload_bytes=int(cfg.serve.max_upload_mb * 2**20),
    )

    def rag(name: str | None = None) -> RuntimeRag:
        """The project's own knowledge base (brought up to date on first use), or another index by name
        (built with `tunesmith kb ingest --kb NAME`)."""
        key = name or cfg.knowledge.name
        with rag_lock:
            if key not in rag_holder:
                if key == cfg.knowledge.name:
                    from tunesmith.knowledge.ingest import ingest

                    ingest(cfg.knowledge, project.dir)
                rag_holder[key] = RuntimeRag.open(cfg.knowledge, project.dir, key)
            return rag_holder[key]

    @app.middleware("http")
    async def authenticate(request: Request, call_next: Any) -> Any:
        # the web UI's data is as private as the API: the same keys guard it (its pages and assets are public)
        if request.url.path.startswith(("/v1", "/ui/api")) and request.method != "OPTIONS":
            known = key_hashes()
            if not known and not require_keys:
                return await call_next(request)
            header = request.headers.get("authorization", "")
            token = header.removeprefix("Bearer ").strip()
            digest = hashlib.sha256(token.encode()).hexdigest()
            if not any(secrets.compare_digest(digest, known_digest) for known_digest in known):
                return JSONResponse(
                    error_body("Incorrect API key provided.", type_="invalid_request_error", code="invalid_api_key"),
                    status_code=401,
                )
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Any:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"] if p != "body")
        return JSONResponse(error_body(f"{param}: {first['msg']}", param=param), status_code=400)

    @app.get("/health")
    def health() -> dict[str, Any]:
        out: dict[str, Any] = {"status": "ok", "project": cfg.name}
        if "batcher" in engine:
            out["adapters"] = engine["cache"].stats()
            out["batches"] = {"batches": engine["batcher"].batches, "requests": engine["batcher"].requests}
        return out

    @app.get("/v1/models")
    def list_models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {
                    "id": m.id,
                    "object": "model",
                    "created": m.created,
                    "owned_by": m.owned_by,
                }
                for m in catalog.models()
            ],
        }

    @app.get("/v1/models/{model_id:path}")
    def get_model(model_id: str) -> Any:
        model = catalog.find(model_id)
        if model is None:
            return JSONResponse(
                error_body(f"The model '{model_id}' does not exist.", param="model", code="model_not_found"),
                status_code=404,
            )
        return {"id": model.id, "object": "model", "created": model.created, "owned_by": model.owned_by}

    embedder_id = cfg.knowledge.embedder_spec.removeprefix("bundled:")

    @app.post("/v1/embeddings")
    def embeddings(body: EmbeddingRequest) -> Any:
        """The knowledge base's embedder, so clients embed exactly as the index does."""
        import base64

        import numpy as np

        from tunesmith.knowledge.embed import load_embedder

        if body.model not in (embedder_id, cfg.knowledge.embedder_spec):
            return JSONResponse(
                error_body(
                    f"The model '{body.model}' does not exist; embeddings are served by '{embedder_id}'.",
                    param="model",
                    code="model_not_found",
                ),
                status_code=404,
            )
        texts = [body.input] if isinstance(body.input, str) else body.input
        if not texts or not all(isinstance(t, str) for t in texts):
            return JSONResponse(
                error_body(
                    "input must be a string or a non-empty list of strings (token arrays are not accepted).",
                    param="input",
                ),
                status_code=400,
            )
        embedder = load_embedder(cfg.knowledge.embedder_spec)
        if body.dimensions is not None and body.dimensions != embedder.dim:
            return JSONResponse(
                error_body(f"this embedder has {embedder.dim} dimensions.", param="dimensions"), status_code=400
            )
        vectors = embedder.encode(texts)  # type: ignore[arg-type]
        tokenizer = getattr(getattr(embedder, "model", None), "tokenizer", None)
        tokens = sum(len(ids) for ids in tokenizer(texts)["input_ids"]) if tokenizer is not None else 0
        data = []
        for i, vector in enumerate(vectors):
            value: Any = (
                base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
                if body.encoding_format == "base64"
                else [float(x) for x in vector]
            )
            data.append({"object": "embedding", "index": i, "embedding": value})
        return {
            "object": "list",
            "data": data,
            "model": embedder_id,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    @app.post("/v1/chat/completions")
    def chat_completions(body: ChatRequest) -> Any:
        model = catalog.find(body.model)
        if model is None:
            return JSONResponse(
                error_body(f"The model '{body.model}' does not exist.", param="model", code="model_not_found"),
                status_code=404,
            )
        messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in body.messages]
        if messages[0]["role"] != "system" and cfg.system_prompt:
            # the fine-tune was trained under the project's system prompt; keep it unless the client sets one
            messages.insert(0, {"role": "system", "content": cfg.system_prompt})
        # retrieval: the request's extension field, else the model's binding in serve.bindings, else serve.retrieval
        bound = next((kb for prefix, kb in cfg.serve.bindings.items() if model.id.startswith(prefix)), None)
        options = body.tunesmith
        kb_name = (options.kb if options and options.kb else None) or bound
        use_rag = (
            options.retrieval
            if options and options.retrieval is not None
            else bool(options and options.kb) or bound is not None or cfg.serve.retrieval
        )
        if use_rag:
            try:
                runtime = rag(kb_name)
            except TunesmithError as exc:
                return JSONResponse(error_body(exc.render(), param="tunesmith.kb", code="kb_not_found"), 400)
        citations: list[dict[str, Any]] = []
        if use_rag:
            last_user = (
                max(i for i, m in enumerate(messages) if m["role"] == "user")
                if any(m["role"] == "user" for m in messages)
                else None
            )
            if last_user is not None:
                points = runtime.points_for([messages[last_user]["content"]])[0]
                messages[last_user] = {
                    "role": "user",
                    "content": user_turn(messages[last_user]["content"], [p.text for p in points]),
                }
                citations = [p.to_dict() for p in points]
        limit = body.max_completion_tokens or body.max_tokens or cfg.serve.max_new_tokens
        stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
        params = GenerationParams(
            max_new_tokens=min(limit, cfg.serve.max_new_tokens),
            temperature=body.temperature if body.temperature is not None else (0.7 if body.n > 1 else 0.0),
            top_p=body.top_p if body.top_p is not None else 1.0,
            stop=tuple(stop),
            seed=body.seed,
        )
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        extension = {
            "retrieval": bool(use_rag),
            "kb": (kb_name or cfg.knowledge.name) if use_rag else None,
            "citations": citations,
        }
        if cfg.serve.backend == "vllm":
            return _forward(vllm(), body, messages, params, model, completion_id, extension)
        engine_batcher = batcher()
        if body.stream:
            return StreamingResponse(
                _stream(engine_batcher.cache, messages, params, model, completion_id, created, extension, body.n),
                media_type="text/event-stream",
            )
        futures = [engine_batcher.submit(messages, params, model.adapter, model.adapter_path) for _ in range(body.n)]
        outputs = [f.result() for f in futures]
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model.id,
            "system_fingerprint": f"tunesmith-{model.adapter or 'base'}",
            "choices": [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": o.text},
                    "finish_reason": o.finish_reason,
                    "logprobs": None,
                }
                for i, o in enumerate(outputs)
            ],
            "usage": {
                "prompt_tokens": outputs[0].prompt_tokens,
                "completion_tokens": sum(o.completion_tokens for o in outputs),
                "total_tokens": outputs[0].prompt_tokens + sum(o.completion_tokens for o in outputs),
            },
            "tunesmith": extension,
        }

    return app


def _stream(
    cache: AdapterCache,
    messages: list[dict[str, Any]],
    params: GenerationParams,
    model: ServedModel,
    completion_id: str,
    created: int,
    extension: dict[str, Any],
    n: int,
) -> Iterator[str]:
    def event(choices: list[dict[str, Any]], **extra: Any) -> str:
        payload = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model.id,
            "choices": choices,
            **extra,
        }
        return f"data: {json.dumps(payload)}\n\n"

    prompt_tokens = completion_tokens = 0
    for index in range(n):
        yield event([{"index": index, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        finish = "stop"
        # the adapter stays loaded (no eviction) for the whole stream
        with cache.lock:
            if model.adapter is not None and model.adapter_path is not None:
                cache.ensure(model.adapter, model.adapter_path)
            for piece in cache.generator.stream(messages, params, adapter=model.adapter):
                if piece.text:
                    yield event([{"index": index, "delta": {"content": piece.text}, "finish_reason": None}])
                if piece.finish_reason:
                    finish = piece.finish_reason
                    prompt_tokens = piece.prompt_tokens
                    completion_tokens += piece.completion_tokens
        yield event([{"index": index, "delta": {}, "finish_reason": finish}])
    yield event(
        [],
        usage={
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        tunesmith=extension,
    )
    yield "data: [DONE]\n\n"


def _forward(
    backend: Any,
    body: ChatRequest,
    messages: list[dict[str, Any]],
    params: GenerationParams,
    model: ServedModel,
    completion_id: str,
    extension: dict[str, Any],
) -> Any:
    """Generation on a vLLM server; ids, retrieval and citations stay tunesmith's."""
    from fastapi.responses import StreamingResponse

    payload: dict[str, Any] = {
        "messages": messages,
        "max_tokens": params.max_new_tokens,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "n": body.n,
    }
    if params.stop:
        payload["stop"] = list(params.stop)
    if params.seed is not None:
        payload["seed"] = params.seed
    if body.stream:

        def events() -> Iterator[str]:
            for data in backend.stream(payload, model.adapter, model.adapter_path):
                chunk = json.loads(data)
                chunk.update(id=completion_id, model=model.id)
                yield f"data: {json.dumps(chunk)}\n\n"
            yield f"data: {json.dumps({'id': completion_id, 'object': 'chat.completion.chunk', 'model': model.id, 'choices': [], 'tunesmith': extension})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")
    data = backend.complete(payload, model.adapter, model.adapter_path)
    data.update(id=completion_id, model=model.id, tunesmith=extension)
    return data
