"""OpenAI-compatible endpoints: concurrent requests, retries with backoff."""

from __future__ import annotations

import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tunesmith.core.errors import ModelSourceError
from tunesmith.models.generation import Chat, Generation, GenerationParams
from tunesmith.models.spec import EndpointModelRef

_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class EndpointGenerator:
    """Any server that speaks `/v1/chat/completions` (vLLM, TGI, llama.cpp, OpenAI, tunesmith serve)."""

    def __init__(self, ref: EndpointModelRef, *, transport: httpx.BaseTransport | None = None) -> None:
        self.ref = ref
        self.name = ref.display_name
        headers = {}
        if ref.api_key_env:
            key = os.environ.get(ref.api_key_env)
            if not key:
                raise ModelSourceError(
                    f"the API key variable {ref.api_key_env} is not set",
                    fix=f"export {ref.api_key_env}=... before running.",
                )
            headers["Authorization"] = f"Bearer {key}"
        self._client = httpx.Client(
            base_url=ref.endpoint.rstrip("/"),
            headers=headers,
            timeout=ref.timeout_s,
            transport=transport,
            limits=httpx.Limits(max_connections=ref.max_concurrency),
        )

    def check(self) -> None:
        """Fail fast, with one clear line, when the endpoint cannot be reached."""
        try:
            response = self._client.get("/models", timeout=min(self.ref.timeout_s, 10.0))
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        if response.status_code in (401, 403):
            raise ModelSourceError(
                f"endpoint {self.ref.endpoint} refused the API key (HTTP {response.status_code})",
                fix=f"Check the key in {self.ref.api_key_env or 'api_key_env'}.",
            )

    def _unreachable(self, exc: Exception) -> ModelSourceError:
        return ModelSourceError(
            f"cannot reach endpoint {self.ref.endpoint} ({type(exc).__name__}: {exc})",
            fix="Start the server or fix the endpoint URL in the project file.",
        )

    def generate(self, chats: list[Chat], params: GenerationParams, *, on_progress: Any = None) -> list[Generation]:
        def one(chat: Chat) -> Generation:
            result = self._complete(chat, params)
            if on_progress is not None:
                on_progress(1)
            return result

        with ThreadPoolExecutor(max_workers=self.ref.max_concurrency) as pool:
            return list(pool.map(one, chats))

    def _complete(self, chat: Chat, params: GenerationParams) -> Generation:
        body: dict[str, Any] = {
            "model": self.ref.model,
            "messages": chat,
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        tools = getattr(chat, "tools", None)
        if tools:
            body["tools"] = tools
        started = time.perf_counter()
        response = self._post_with_retries(body)
        elapsed = time.perf_counter() - started
        data = response.json()
        choice = data["choices"][0]
        usage = data.get("usage") or {}
        return Generation(
            text=(choice["message"].get("content") or "").strip(),
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            finish_reason=choice.get("finish_reason") or "stop",
            latency_s=elapsed,
            tool_calls=choice["message"].get("tool_calls") or None,
        )

    def _post_with_retries(self, body: dict[str, Any]) -> httpx.Response:
        return post_with_retries(
            self._client, "/chat/completions", body, max_retries=self.ref.max_retries, endpoint=self.ref.endpoint
        )


def post_with_retries(
    client: httpx.Client, path: str, body: dict[str, Any], *, max_retries: int, endpoint: str
) -> httpx.Response:
    """POST, retrying transient failures (connection errors, 408/409/429/5xx) with jittered backoff."""
    attempt = 0
    while True:
        try:
            response = client.post(path, json=body)
        except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError, httpx.TimeoutException) as exc:
            if attempt >= max_retries:
                raise ModelSourceError(
                    f"cannot reach endpoint {endpoint} ({type(exc).__name__}: {exc})",
                    fix="Start the server or fix the endpoint URL in the project file.",
                ) from None
        else:
            if response.status_code < 400:
                return response
            if response.status_code not in _RETRY_STATUS or attempt >= max_retries:
                raise ModelSourceError(
                    f"endpoint {endpoint} answered HTTP {response.status_code}: {response.text[:300]}",
                    fix="Check the model name and the request limits of the endpoint.",
                )
        attempt += 1
        # full jitter backoff (AWS architecture blog, "Exponential Backoff And Jitter")
        time.sleep(random.uniform(0, min(8.0, 0.5 * 2**attempt)))
