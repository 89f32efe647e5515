"""`/v1/chat/completions` and `/v1/embeddings`: OpenAI's shapes over the one loaded base model and its adapters.

Retrieval is per request: the last user turn gets the knowledge-base points in
the same format the model was trained on, and the response carries the
citations in a `tunesmith` field the openai client keeps.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

from fastapi import APIRouter, Request  # at module level: FastAPI resolves the handlers' annotations here

from tunesmith.core.errors import TunesmithError
from tunesmith.data.instruction import user_turn
from tunesmith.models.generation import Generation, GenerationParams
from tunesmith.serve import tool_use
from tunesmith.serve.adapters import AdapterCache
from tunesmith.serve.admission import admit, check_messages
from tunesmith.serve.catalog import ServedModel
from tunesmith.serve.openai_schema import ChatRequest, EmbeddingRequest, OpenAIError
from tunesmith.serve.scheduler import Busy, Cancelled, Scheduler, Ticket
from tunesmith.serve.streaming import TextDeltas

router = APIRouter(prefix="/v1")


async def chat_completions(request: Request, body: ChatRequest) -> Any:
    from starlette.concurrency import run_in_threadpool

    state = request.app.state
    cfg = state.project.config
    model = state.catalog.find(body.model)
    if model is None:
        raise OpenAIError(404, f"The model '{body.model}' does not exist.", param="model", code="model_not_found")
    check_messages(body, cfg.serve.max_messages)
    messages = prompt_messages(body, cfg.system_prompt)
    use = None
    if cfg.serve.backend != "vllm":  # vLLM parses tool calls itself: the request's tools are forwarded
        if body.tools and body.tool_choice != "none" and cfg.serve.scheduler == "window":
            raise OpenAIError(400, "tools need serve.scheduler: continuous on this server.", param="tools")
        use = await run_in_threadpool(tool_use.plan, body, state.engine.tokenizer())
    # counted before anything is queued: a prompt that cannot fit is a 400 now, not minutes of prefill
    prompt, params = await run_in_threadpool(admit, state.engine, cfg.serve, body, messages, use)
    extension = await run_in_threadpool(ground, state.engine, cfg, body, model, messages)
    if extension["retrieval"]:  # the grounded prompt is longer: count it again
        prompt, params = await run_in_threadpool(admit, state.engine, cfg.serve, body, messages, use)
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    if cfg.serve.backend == "vllm":
        return await run_in_threadpool(
            _forward, state.engine.vllm(), body, messages, params, model, completion_id, extension
        )
    if cfg.serve.scheduler == "window":
        return await run_in_threadpool(
            _window, state.engine, body, messages, params, model, completion_id, created, extension
        )
    scheduler = state.engine.scheduler()
    tenant = _tenant(request)
    if body.stream:
        import asyncio

        from fastapi.responses import StreamingResponse

        loop, tokens = asyncio.get_running_loop(), asyncio.Queue()  # type: ignore[var-annotated]
        tickets = _submit(
            scheduler,
            prompt,
            params,
            model,
            body.n,
            lambda i, t: loop.call_soon_threadsafe(tokens.put_nowait, (i, t)),
            tenant=tenant,
        )
        deltas = [TextDeltas(state.engine.tokenizer(), params.stop) for _ in tickets]
        chunk = _chunker(model, completion_id, created)
        return StreamingResponse(
            _stream_tickets(tickets, tokens, deltas, chunk, extension, use), media_type="text/event-stream"
        )
    tickets = _submit(scheduler, prompt, params, model, body.n, tenant=tenant)
    outputs = await _wait(request, tickets)
    if outputs is None:  # the client went away: its answers were cancelled, nobody reads this
        from fastapi.responses import Response

        return Response(status_code=499)
    return _completion(outputs, model, completion_id, created, extension, use)


def _tenant(request: Request) -> str | None:
    """Whose request this is, for the prompt cache: a digest of the bearer token it carries (the server checked
    it already where keys are required), None without one."""
    import hashlib

    scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    return hashlib.sha256(token.encode()).hexdigest() if token else None


def _submit(
    scheduler: Scheduler,
    prompt: list[int],
    params: GenerationParams,
    model: ServedModel,
    n: int,
    on_token: Any = None,
    *,
    tenant: str | None = None,
) -> list[Ticket]:
    tickets: list[Ticket] = []
    try:
        for index in range(n):
            hook = (lambda token, i=index: on_token(i, token)) if on_token is not None else None
            tickets.append(scheduler.submit(prompt, params, model.adapter, model.adapter_path, hook, tenant))
    except Busy as exc:
        for ticket in tickets:
            ticket.cancel()
        raise OpenAIError(
            429, f"The server is busy ({exc}); retry shortly.", type_="server_busy", code="rate_limit_exceeded"
        ) from None
    except Cancelled:
        raise OpenAIError(503, "The server is shutting down.", type_="server_error", code="shutting_down") from None
    return tickets


async def _wait(request: Request, tickets: list[Ticket]) -> list[Generation] | None:
    """The tickets' answers; None when the client disconnected first (its answers are then cancelled, so a
    client that gave up costs nothing after the next step)."""
    import asyncio

    futures = [asyncio.wrap_future(t.future) for t in tickets]
    try:
        while True:
            _, pending = await asyncio.wait(futures, timeout=0.25)
            if not pending:
                break
            if await request.is_disconnected():
                for ticket in tickets:
                    ticket.cancel()
                return None
    except asyncio.CancelledError:  # the server is stopping this request
        for ticket in tickets:
            ticket.cancel()
        raise
    try:
        return [f.result() for f in futures]
    except Cancelled:
        raise OpenAIError(503, "The server is shutting down.", type_="server_error", code="shutting_down") from None


def _usage(prompt_tokens: int, completion_tokens: int, cached_tokens: int | None = None) -> dict[str, Any]:
    """OpenAI's usage object; ``cached_tokens``: prompt tokens the prompt cache supplied (continuous scheduler)."""
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if cached_tokens is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": cached_tokens}
    return usage


def _cached(outputs: Any) -> int | None:
    """The prompt tokens the cache supplied, as OpenAI counts them for n choices: the first choice's prefill."""
    first = next(iter(outputs), None)
    return first.extra.get("cached_tokens") if first is not None else None


def _chunker(model: ServedModel, completion_id: str, created: int) -> Any:
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

    return event


async def _stream_tickets(
    tickets: list[Ticket],
    tokens: Any,
    deltas: list[TextDeltas],
    event: Any,
    extension: dict[str, Any],
    use: tool_use.ToolUse | None = None,
) -> AsyncIterator[str]:
    """Each choice's text as its tokens arrive; a client that disconnects cancels its answers (Starlette
    cancels this generator when the connection closes). With tools, text that may be a call is held back and
    a call arrives as one `tool_calls` delta at the end."""
    calls = [tool_use.ToolStream(use) if use is not None else None for _ in tickets]
    warnings: list[str] = []
    try:
        for index in range(len(tickets)):
            yield event([{"index": index, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        outputs: dict[int, Generation] = {}
        while len(outputs) < len(tickets):
            index, token = await tokens.get()
            held = calls[index]
            if token >= 0:
                delta = deltas[index].push(token)
                if delta and held is not None:
                    delta = held.push(delta)
                if delta:
                    yield event([{"index": index, "delta": {"content": delta}, "finish_reason": None}])
                continue
            try:
                output = tickets[index].future.result()
            except Cancelled:
                return  # the server is stopping
            outputs[index] = output
            rest = deltas[index].finish(output.text)
            finish = output.finish_reason
            if held is not None:
                held.push(rest)
                rest, made, warning = held.finish(output.text)
                if warning:
                    warnings.append(warning)
                if made:
                    yield event(
                        [{"index": index, "delta": {"tool_calls": tool_use.call_deltas(made)}, "finish_reason": None}]
                    )
                    finish = "tool_calls"
            yield event([{"index": index, "delta": {"content": rest} if rest else {}, "finish_reason": finish}])
        prompt_tokens = outputs[0].prompt_tokens
        completion_tokens = sum(o.completion_tokens for o in outputs.values())
        if warnings:
            extension = {**extension, "warnings": warnings}
        cached = _cached(outputs[i] for i in sorted(outputs))
        yield event([], usage=_usage(prompt_tokens, completion_tokens, cached), tunesmith=extension)
        yield "data: [DONE]\n\n"
    finally:
        for ticket in tickets:
            ticket.cancel()


def _completion(
    outputs: list[Generation],
    model: ServedModel,
    completion_id: str,
    created: int,
    extension: dict[str, Any],
    use: tool_use.ToolUse | None = None,
) -> dict[str, Any]:
    completion_tokens = sum(o.completion_tokens for o in outputs)
    choices, warnings = [], []
    for i, o in enumerate(outputs):
        message, finish, warning = tool_use.answer(use, o.text, o.finish_reason)
        if warning:
            warnings.append(warning)
        choices.append({"index": i, "message": message, "finish_reason": finish, "logprobs": None})
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model.id,
        "system_fingerprint": f"tunesmith-{model.adapter or 'base'}",
        "choices": choices,
        "usage": _usage(outputs[0].prompt_tokens, completion_tokens, _cached(outputs)),
        "tunesmith": {**extension, "warnings": warnings} if warnings else extension,
    }


def _window(
    engine: Any,
    body: ChatRequest,
    messages: list[dict[str, Any]],
    params: GenerationParams,
    model: ServedModel,
    completion_id: str,
    created: int,
    extension: dict[str, Any],
) -> Any:
    """serve.scheduler: window, the earlier batching, kept as the comparison in bench/load.py."""
    batcher = engine.batcher()
    if body.stream:
        from fastapi.responses import StreamingResponse

        event = _chunker(model, completion_id, created)
        events = _stream(batcher.cache, messages, params, model, event, extension, body.n)
        return StreamingResponse(events, media_type="text/event-stream")
    futures = [batcher.submit(messages, params, model.adapter, model.adapter_path) for _ in range(body.n)]
    return _completion([f.result() for f in futures], model, completion_id, created, extension)


def prompt_messages(body: ChatRequest, system_prompt: str) -> list[dict[str, Any]]:
    """The request's messages as the model takes them; the project's system prompt unless the client sets one
    (the fine-tune was trained under it)."""
    messages: list[dict[str, Any]] = []
    for m in body.messages:
        message: dict[str, Any] = {"role": "system" if m.role == "developer" else m.role, "content": m.text()}
        extra = m.model_extra or {}
        if m.role == "assistant" and extra.get("tool_calls"):
            message["tool_calls"] = extra["tool_calls"]
        if m.role == "tool":
            message["tool_call_id"] = extra.get("tool_call_id")
        messages.append(message)
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
    limit = request.app.state.project.config.serve.max_embedding_inputs
    if len(texts) > limit:
        raise OpenAIError(
            400,
            f"Too many inputs: {len(texts)}; at most {limit} per request (serve.max_embedding_inputs).",
            param="input",
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
    event: Any,
    extension: dict[str, Any],
    n: int,
) -> Iterator[str]:
    """Window batching's streaming: one stream at a time, holding the model for its whole answer."""
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
        usage=_usage(prompt_tokens, completion_tokens),
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
    if body.tools:  # vLLM's own tool parser answers with tool_calls
        payload["tools"] = [t.model_dump(exclude_none=True) for t in body.tools]
        if body.tool_choice is not None:
            choice = body.tool_choice
            payload["tool_choice"] = choice if isinstance(choice, str) else choice.model_dump()
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
