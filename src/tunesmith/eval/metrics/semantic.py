"""Meaning-level similarity."""

from __future__ import annotations

import numpy as np

from tunesmith.eval.metrics.base import MetricContext
from tunesmith.knowledge.embed import load_embedder


class EmbeddingSimilarity:
    """Cosine similarity of sentence embeddings of output and reference, -1..1 (in practice 0..1), higher is better.

    Credits a correct answer phrased differently, which ROUGE does not.
    """

    name = "embedding_similarity"
    description = "cosine similarity of output and golden output embeddings"
    low, high, higher_is_better = -1.0, 1.0, True

    def score(self, outputs: list[str], references: list[str], ctx: MetricContext) -> list[float]:
        embedder = load_embedder(ctx.embedder)
        a = embedder.encode([o or " " for o in outputs])
        b = embedder.encode(references)
        return [float(x) for x in np.sum(a * b, axis=1)]
