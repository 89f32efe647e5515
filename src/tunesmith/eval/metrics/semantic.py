"""Meaning-level metrics: embedding similarity, and groundedness in the retrieved context."""

from __future__ import annotations

import math

import numpy as np

from tunesmith.eval.metrics.base import MetricContext
from tunesmith.knowledge.chunk import split_sentences
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


class Groundedness:
    """Share of the answer's factual sentences supported by the retrieved context, 0..1, higher is better.

    With a judge configured, the judge decides per sentence ("is this statement
    supported by the context?"). Without one, a sentence counts as supported
    when its embedding is within ``groundedness_threshold`` cosine similarity of
    some context point: a fallback that catches invented facts far from the
    sources, not subtle contradictions. Answers given without retrieved context
    are not applicable (nan).
    """

    name = "groundedness"
    description = "share of answer sentences supported by the retrieved context"
    low, high, higher_is_better = 0.0, 1.0, True

    def score(self, outputs: list[str], references: list[str], ctx: MetricContext) -> list[float]:
        if ctx.judge is not None:
            from tunesmith.eval.judge import judge_groundedness

            return judge_groundedness(ctx.judge, outputs, ctx.contexts)
        embedder = load_embedder(ctx.embedder)
        scores = []
        for output, context in zip(outputs, ctx.contexts, strict=True):
            sentences = [s for s in split_sentences(output.replace("\n", " ")) if len(s.split()) >= 5]
            if not context or not sentences:
                scores.append(math.nan)
                continue
            sims = embedder.encode(sentences) @ embedder.encode(context).T
            scores.append(float(np.mean(sims.max(axis=1) >= ctx.groundedness_threshold)))
        return scores
