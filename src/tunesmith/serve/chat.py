"""`/v1/chat/completions` and `/v1/embeddings`: OpenAI's shapes over the one loaded base model and its adapters.

Retrieval is per request: the last user turn gets the knowledge-base points in
the same format the model was trained on, and the response carries the
citations in a `tunesmith` field the openai client keeps.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request  # at module level: FastAPI resolves the handlers' annotations here

from tunesmith.core.errors import TunesmithError
from tunesmith.data.instruction import user_turn
from tunesmith.models.generation import GenerationParams
from tunesmith.serve.adapters import AdapterCache
from tunesmith.serve.catalog import ServedModel
from tunesmith.serve.openai_schema import ChatRequest, EmbeddingRequest, OpenAIError

router = APIRouter(prefix="/v1")


def chat_completions(request: Request, body: ChatRequest) -> Any:
    state = request.app.state
    cfg = state.project.config
    model = state.catalog.find(body.model)
    if model is None:
        raise OpenAIError(404, f"The model '{body.model}' does not exist.", param="model", code="model_not_found")
    messages = prompt_messages(body, cfg.system_prompt)
    extension = ground(state.engine, cfg, body, model, messages)
    params = generation_params(body, cfg.serve.max_new_tokens)
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    if cfg.serve.backend == "vllm":
        return _forward(state.engine.vllm(), body, messages, params, model, completion_id, extension)
    batcher = state.engine.batcher()
    created = int(time.time())
    if body.stream:
        from fastapi.responses import StreamingResponse

        events = _stream(batcher.cache, messages, params, model, completion_id, created, extension, body.n)
        return StreamingResponse(events, media_type="text/event-stream")
    futures = [batcher.submit(messages, params, model.adapter, model.adapter_path) for _ in range(body.n)]
    outputs = [f.result() for f in futures]
    completion_tokens = sum(o.completion_tokens for o in outputs)
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
            "completion_tokens": completion_tokens,
            "total_tokens": outputs[0].prompt_tokens + completion_tokens,
        },
        "tunesmith": extension,
    }


def prompt_messages(body: ChatRequest, system_prompt: str) -> list[dict[str, Any]]:
    """The request's messages as the model takes them; the project's system prompt unless the client sets one
    (the fine-tune was trained under it)."""
    messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in body.messages]
    if messages[0]["role"] != "system" and system_prompt:
        messages.insert(0, {"role": "system", "content": system_prompt})
    return messages


def ground(
    engine: Any, cfg: Any, body: ChatRequest, model: ServedModel, messages: list[dict[str, Any]]
) -> dict[str, Any]:
    """Put knowledge-base points into the last user turn when retrieval is on (in place); the `tunesmith` field.

    Retrieval is on by the request's extension field, else the model's binding in serve.bindings, else
    serve.retrieval.
    """
    bound = next((kb for prefix, kb in cfg.serve.bindings.items() if model.id.startswith(prefix)), None)
    options = body.tunesmith
    kb_name = (options.kb if options and options.kb else None) or bound
    if options and options.retrieval is not None:
        use_rag = options.retrieval
    else:
        use_rag = bool(options and options.kb) or bound is not None or cfg.serve.retrieval
    citations: list[dict[str, Any]] = []
    found: dict[str, Any] = {}
    if use_rag:
        try:
            runtime = engine.rag(kb_name)
        except TunesmithError as exc:
            raise OpenAIError(400, exc.render(), param="tunesmith.kb", code="kb_not_found") from None
        users = [i for i, m in enumerate(messages) if m["role"] == "user"]
        if users:
            last = users[-1]
            retrieved = runtime.retrieve([messages[last]["content"]])[0]
            points = [p.text for p in retrieved.points]
            messages[last] = {"role": "user", "content": user_turn(messages[last]["content"], points)}
            citations = [{"n": n, **p.to_dict()} for n, p in enumerate(retrieved.points, 1)]
            found = retrieved.extension(runtime.min_relevance)
    return {
        "retrieval": bool(use_rag),
        "kb": (kb_name or cfg.knowledge.name) if use_rag else None,
        "citations": citations,
        **found,
    }


def generation_params(body: ChatRequest, max_new_tokens: int) -> GenerationParams:
    limit = body.max_completion_tokens or body.max_tokens or max_new_tokens
    stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    return GenerationParams(
        max_new_tokens=min(limit, max_new_tokens),
        temperature=body.temperature if body.temperature is not None else (0.7 if body.n > 1 else 0.0),
        top_p=body.top_p if body.top_p is not None else 1.0,
        stop=tuple(stop),
        seed=body.seed,
    )


def embeddings(request: Request, body: EmbeddingRequest) -> Any:
    """The knowledge base's embedder, so clients embed exactly as the index does."""
    import base64

    import numpy as np

    from tunesmith.knowledge.embed import load_embedder

    knowledge = request.app.state.project.config.knowledge
    embedder_id = knowledge.embedder_spec.removeprefix("bundled:")
    if body.model not in (embedder_id, knowledge.embedder_spec):
        raise OpenAIError(
            404,
            f"The model '{body.model}' does not exist; embeddings are served by '{embedder_id}'.",
            param="model",
            code="model_not_found",
        )
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts or not all(isinstance(t, str) for t in texts):
        raise OpenAIError(
            400, "input must be a string or a non-empty list of strings (token arrays are not accepted).", param="input"
        )
    embedder = load_embedder(knowledge.embedder_spec)
    if body.dimensions is not None and body.dimensions != embedder.dim:
        raise OpenAIError(400, f"this embedder has {embedder.dim} dimensions.", param="dimensions")
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


router.add_api_route("/chat/completions", chat_completions, methods=["POST"])
router.add_api_route("/embeddings", embeddings, methods=["POST"])
