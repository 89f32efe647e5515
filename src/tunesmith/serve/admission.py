"""What a generation request may ask for, decided before anything is queued.

A request's prompt is counted with the model's own tokenizer and chat template
here, in the route, so one that cannot fit the model's context is a 400 in
OpenAI's shape (`context_length_exceeded`) rather than minutes of prefill
nobody waits for; the schema (`openai_schema.py`) bounds everything else a
request carries (messages, stop strings, `n`, seeds, sizes).
"""

from __future__ import annotations

from typing import Any

from tunesmith.core.errors import TunesmithError
from tunesmith.models.generation import GenerationParams
from tunesmith.serve.openai_schema import ChatRequest, OpenAIError


def check_messages(body: ChatRequest, max_messages: int) -> None:
    if len(body.messages) > max_messages:
        raise OpenAIError(
            400,
            f"Too many messages: {len(body.messages)}; this server accepts at most {max_messages} "
            "(serve.max_messages).",
            param="messages",
            code="too_many_messages",
        )


def prompt_ids(tokenizer: Any, messages: list[dict[str, Any]], context: int, use: Any = None) -> list[int]:
    """The rendered chat's token ids (with the request's tools declared, and a forced call's start, when
    ``use`` says so). Text far beyond the context (more characters than ~16 per token could fill) is refused
    before the tokenizer spends time on it."""
    characters = sum(len(str(m.get("content") or "")) + len(str(m.get("tool_calls") or "")) for m in messages)
    if use is not None:
        characters += len(str(use.tools))
    if characters > context * 16:
        raise context_exceeded(context, f"about {characters // 4} tokens in the messages")
    if use is not None or any(m.get("tool_calls") or m.get("role") == "tool" for m in messages):
        from tunesmith.data.template import render

        text = render(tokenizer, messages, generation_prompt=True, tools=use.tools if use else None)
        text += use.forced if use else ""
    else:
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    from tunesmith.data import template

    return template.prompt_ids(tokenizer, text)


def completion_budget(prompt_tokens: int, requested: int | None, server_cap: int, context: int) -> int:
    """How many tokens the answer may have: the request's `max_tokens` (capped by serve.max_new_tokens) when it
    fits the context with the prompt; without `max_tokens`, whatever room the context leaves up to the cap."""
    limit = min(requested or server_cap, server_cap)
    if prompt_tokens + limit <= context:
        return limit
    if requested is None and prompt_tokens < context:
        return context - prompt_tokens
    raise context_exceeded(
        context, f"{prompt_tokens + limit} tokens ({prompt_tokens} in the messages, {limit} in the completion)"
    )


def context_exceeded(context: int, requested: str) -> OpenAIError:
    return OpenAIError(
        400,
        f"This model's maximum context length is {context} tokens. However, you requested {requested}. "
        "Please reduce the length of the messages or completion.",
        param="messages",
        code="context_length_exceeded",
    )


def generation_params(body: ChatRequest, max_new_tokens: int) -> GenerationParams:
    stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    return GenerationParams(
        max_new_tokens=max_new_tokens,
        temperature=body.temperature if body.temperature is not None else (0.7 if body.n > 1 else 0.0),
        top_p=body.top_p if body.top_p is not None else 1.0,
        stop=tuple(s for s in stop if s),
        seed=body.seed,
    )


def admit(
    engine: Any, serve: Any, body: ChatRequest, messages: list[dict[str, Any]], use: Any = None
) -> tuple[list[int], GenerationParams]:
    """(prompt token ids, sampling settings) for a request that fits; raises OpenAIError (400) otherwise."""
    context = engine.context_length()
    try:
        ids = prompt_ids(engine.tokenizer(), messages, context, use)
    except TunesmithError as exc:  # e.g. tool messages for a template that cannot render them
        raise OpenAIError(400, exc.render(), param="messages", code="invalid_messages") from None
    requested = body.max_completion_tokens or body.max_tokens
    budget = completion_budget(len(ids), requested, serve.max_new_tokens, context)
    return ids, generation_params(body, budget)
