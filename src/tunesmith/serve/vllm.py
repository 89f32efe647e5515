"""`--backend vllm`: the same API in front of a vLLM server (a GPU fleet), adapters loaded into it by name.

tunesmith keeps what it owns (model ids, files, fine-tuning jobs, retrieval and
citations, API keys) and forwards generation: the base model by its vLLM name,
a fine-tune as a LoRA adapter that vLLM loads on first use through its
`/v1/load_lora_adapter` route (start vLLM with `--enable-lora` and
`VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`; the adapter folders must be readable at
the same paths by the vLLM server, e.g. a shared volume).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tunesmith.core.errors import ModelSourceError


class VllmBackend:
    def __init__(self, url: str, model: str, *, api_key_env: str | None = None, timeout_s: float = 600) -> None:
        headers = {}
        if api_key_env and os.environ.get(api_key_env):
            headers["Authorization"] = f"Bearer {os.environ[api_key_env]}"
        self.url = url.rstrip("/")
        self.model = model
        self._client = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s)
        self._loaded: set[str] = set()
        self._lock = threading.Lock()

    def ensure_adapter(self, name: str, path: Path) -> None:
        with self._lock:
            if name in self._loaded:
                return
            response = self._client.post("/load_lora_adapter", json={"lora_name": name, "lora_path": str(path)})
            # vLLM answers 400 "already loaded" after its own restart-free reloads; that is fine
            if response.status_code >= 400 and "already" not in response.text.lower():
                raise ModelSourceError(
                    f"vLLM at {self.url} could not load adapter {name}: HTTP {response.status_code} {response.text[:200]}",
                    fix="Start vLLM with --enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True, and make the "
                    "adapter folders readable by it at the same paths.",
                )
            self._loaded.add(name)

    def _payload(self, body: dict[str, Any], adapter: str | None, adapter_path: Path | None) -> dict[str, Any]:
        if adapter is not None and adapter_path is not None:
            self.ensure_adapter(adapter, adapter_path)
        return {**body, "model": adapter or self.model}

    def complete(self, body: dict[str, Any], adapter: str | None, adapter_path: Path | None) -> dict[str, Any]:
        try:
            response = self._client.post("/chat/completions", json=self._payload(body, adapter, adapter_path))
        except httpx.HTTPError as exc:
            raise ModelSourceError(f"cannot reach vLLM at {self.url} ({type(exc).__name__})") from None
        if response.status_code >= 400:
            raise ModelSourceError(f"vLLM answered HTTP {response.status_code}: {response.text[:300]}")
        return dict(response.json())

    def stream(self, body: dict[str, Any], adapter: str | None, adapter_path: Path | None) -> Iterator[str]:
        """vLLM's server-sent events, line by line (without the final [DONE], which the caller sends)."""
        payload = {**self._payload(body, adapter, adapter_path), "stream": True}
        with self._client.stream("POST", "/chat/completions", json=payload) as response:
            if response.status_code >= 400:
                raise ModelSourceError(f"vLLM answered HTTP {response.status_code}")
            for line in response.iter_lines():
                if line.startswith("data: ") and line.strip() != "data: [DONE]":
                    yield line[len("data: ") :]
