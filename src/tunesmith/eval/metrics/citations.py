"""Citations: does the answer cite the knowledge-base points that support it, and only those?

An answer cites point n of its prompt with ``[n]`` (the fine-tune learns this when the data build's
``citations`` is on). Each test example's reference carries its provenance: the chunks its sentences rest on
(the data build's ``support``). Against it:

- ``citation_precision``: share of the answer's citations that point at a supporting chunk;
- ``citation_recall``: share of the supporting points in the prompt that the answer cites;
- ``cited_groundedness``: share of the answer's cited sentences that say what the cited point says
  (embedding similarity at ``eval.groundedness_threshold``).

Each is not applicable (nan) where it cannot be judged: no retrieval, nothing cited, nothing to cite.
"""

from __future__ import annotations

import math
from typing import Any

from tunesmith.data.instruction import cited, strip_citations
from tunesmith.eval.metrics.base import MetricContext
from tunesmith.knowledge.chunk import split_sentences


def _points(ctx: MetricContext, i: int) -> list[dict[str, Any]]:
    return (ctx.context_points or [])[i] if ctx.context_points else []


def _support(ctx: MetricContext, i: int) -> set[str]:
    return set((ctx.support or [])[i]) if ctx.support else set()


class CitationPrecision:
    name = "citation_precision"
    description = "share of the answer's [n] citations that point at a chunk supporting the reference"
    low, high, higher_is_better = 0.0, 1.0, True
    reads_citations = True

    def score(self, outputs: list[str], references: list[str], ctx: MetricContext) -> list[float]:
        scores = []
        for i, output in enumerate(outputs):
            points, numbers = _points(ctx, i), cited(output)
            if not points or not numbers:
                scores.append(math.nan)
                continue
            support = _support(ctx, i)
            right = sum(1 for n in numbers if 1 <= n <= len(points) and points[n - 1].get("chunk_id") in support)
            scores.append(right / len(numbers))
        return scores


class CitationRecall:
    name = "citation_recall"
    description = "share of the prompt's supporting points that the answer cites"
    low, high, higher_is_better = 0.0, 1.0, True
    reads_citations = True

    def score(self, outputs: list[str], references: list[str], ctx: MetricContext) -> list[float]:
        scores = []
        for i, output in enumerate(outputs):
            points, support = _points(ctx, i), _support(ctx, i)
            relevant = {n for n, p in enumerate(points, 1) if p.get("chunk_id") in support}
            if not relevant:
                scores.append(math.nan)
                continue
            scores.append(len(relevant & set(cited(output))) / len(relevant))
        return scores


class CitedGroundedness:
    name = "cited_groundedness"
    description = "share of cited sentences that say what the point they cite says"
    low, high, higher_is_better = 0.0, 1.0, True
    reads_citations = True

    def score(self, outputs: list[str], references: list[str], ctx: MetricContext) -> list[float]:
        from tunesmith.knowledge.embed import load_embedder

        pairs: list[tuple[int, str, str]] = []  # (example, sentence, cited point text)
        for i, output in enumerate(outputs):
            points = _points(ctx, i)
            for line in output.split("\n"):
                for sentence in split_sentences(line):
                    for n in cited(sentence):
                        if 1 <= n <= len(points):
                            pairs.append((i, strip_citations(sentence), str(points[n - 1].get("text", ""))))
                        else:  # a citation of a point that was not there supports nothing
                            pairs.append((i, strip_citations(sentence), ""))
        totals: dict[int, list[float]] = {}
        if pairs:
            embedder = load_embedder(ctx.embedder)
            a = embedder.encode([s or " " for _, s, _ in pairs])
            b = embedder.encode([t or " " for _, _, t in pairs])
            for (i, _, text), x, y in zip(pairs, a, b, strict=True):
                ok = bool(text) and float(x @ y) >= ctx.groundedness_threshold
                totals.setdefault(i, []).append(float(ok))
        return [sum(totals[i]) / len(totals[i]) if i in totals else math.nan for i in range(len(outputs))]
