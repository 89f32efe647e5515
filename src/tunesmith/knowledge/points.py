"""Content points: the few knowledge-base sentences an answer rests on.

Whole chunks would drown a small model's context; single sentences ranked by
similarity to a target keep the prompt short and the facts precise. At data
building time the target is the golden output (which facts does it use?); at
runtime it is the user's input (which facts might the answer need?).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tunesmith.knowledge.chunk import split_sentences
from tunesmith.knowledge.embed import Embedder
from tunesmith.knowledge.retrieve import Hit


@dataclass(frozen=True)
class Point:
    text: str
    score: float
    chunk_id: str
    source: str
    heading: str

    def to_dict(self) -> dict[str, object]:
        return {
            "text": self.text,
            "score": round(self.score, 4),
            "chunk_id": self.chunk_id,
            "source": self.source,
            "heading": self.heading,
        }


class PointPicker:
    """Splits retrieved chunks into sentences once and ranks them against targets."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._cache: dict[str, tuple[list[str], np.ndarray]] = {}

    def _sentences(self, hits: list[Hit]) -> None:
        todo = [h.chunk for h in hits if h.chunk.id not in self._cache]
        if not todo:
            return
        pieces = [[s for s in split_sentences(c.text.replace("\n", " ")) if len(s.split()) >= 4] for c in todo]
        flat = [s.lstrip("-*• ").strip() for group in pieces for s in group]
        vectors = self.embedder.encode(flat) if flat else np.zeros((0, self.embedder.dim), np.float32)
        offset = 0
        for chunk, group in zip(todo, pieces, strict=True):
            self._cache[chunk.id] = (flat[offset : offset + len(group)], vectors[offset : offset + len(group)])
            offset += len(group)

    def pick(self, hits: list[Hit], target: str, *, n: int, min_similarity: float) -> list[Point]:
        return self.pick_many([hits], [target], n=n, min_similarity=min_similarity)[0]

    def pick_many(
        self, hits_per_target: list[list[Hit]], targets: list[str], *, n: int, min_similarity: float
    ) -> list[list[Point]]:
        return [points for points, _ in self.pick_scored(hits_per_target, targets, n=n, min_similarity=min_similarity)]

    def pick_scored(
        self, hits_per_target: list[list[Hit]], targets: list[str], *, n: int, min_similarity: float
    ) -> list[tuple[list[Point], float]]:
        """Per target: its best ``n`` points at or above ``min_similarity``, and the best similarity of any
        sentence of its hits (how relevant the retrieved text is at all; -1 when there was none)."""
        if n <= 0:
            return [([], -1.0) for _ in targets]
        for hits in hits_per_target:
            self._sentences(hits)
        target_vectors = self.embedder.encode(targets)
        out: list[tuple[list[Point], float]] = []
        for hits, vector in zip(hits_per_target, target_vectors, strict=True):
            scored: list[Point] = []
            seen: set[str] = set()
            best = -1.0
            for hit in hits:
                sentences, vectors = self._cache[hit.chunk.id]
                if not sentences:
                    continue
                sims = vectors @ vector
                best = max(best, float(sims.max()))
                for sentence, sim in zip(sentences, sims, strict=True):
                    key = sentence.lower()
                    if sim >= min_similarity and key not in seen:
                        seen.add(key)
                        scored.append(Point(sentence, float(sim), hit.chunk.id, hit.chunk.doc, hit.chunk.heading))
            scored.sort(key=lambda p: -p.score)
            out.append((scored[:n], best))
        return out
