"""Hybrid retrieval: dense vectors and BM25, fused by reciprocal rank.

Dense search finds paraphrases; BM25 finds exact terms (SKUs, plan names,
error codes) that small embedders blur. Reciprocal-rank fusion (Cormack,
Clarke & Buettcher, SIGIR 2009; constant 60) needs no score calibration
between the two, which is why it is the common default.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunesmith.core.errors import StageError
from tunesmith.knowledge.chunk import Chunk
from tunesmith.knowledge.embed import SentenceEmbedder, load_embedder
from tunesmith.knowledge.store import ChunkStore

RRF_K = 60


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float
    dense_rank: int | None
    bm25_rank: int | None

    def citation(self) -> dict[str, object]:
        c = self.chunk
        return {
            "chunk_id": c.id,
            "source": c.doc,
            "heading": c.heading,
            "start": c.start,
            "end": c.end,
            "score": round(self.score, 6),
        }


class Retriever:
    def __init__(self, store: ChunkStore, embedder: SentenceEmbedder) -> None:
        self.store = store
        self.embedder = embedder
        self.chunks = {c.id: c for c in store.all_chunks()}
        self._bm25, self._bm25_ids = store.load_bm25()

    @classmethod
    def open(cls, folder: Path) -> Retriever:
        store = ChunkStore(folder)
        if not store.exists():
            raise StageError(
                "the knowledge base has not been indexed",
                where=str(folder),
                fix="Run `tunesmith kb ingest` (or `tunesmith data build`, which indexes it).",
            )
        return cls(store, load_embedder(store.manifest()["settings"]["embedder"]))

    def search(self, query: str, k: int = 5) -> list[Hit]:
        return self.search_many([query], k)[0]

    def search_many(self, queries: list[str], k: int = 5, *, pool: int | None = None) -> list[list[Hit]]:
        """Top-k hits per query; ``pool`` candidates from each retriever feed the fusion."""
        import bm25s

        pool = pool or max(4 * k, 20)
        vectors = self.embedder.encode(queries)
        tokenized = bm25s.tokenize(queries, stopwords="en", return_ids=False, show_progress=False)
        results: list[list[Hit]] = []
        for qi, _ in enumerate(queries):
            dense = self.store.dense_search(vectors[qi], pool)
            sparse: list[str] = []
            if self._bm25 is not None and tokenized[qi]:
                n = min(pool, len(self._bm25_ids))
                docs, scores = self._bm25.retrieve([tokenized[qi]], k=n, show_progress=False)
                sparse = [self._bm25_ids[int(d)] for d, s in zip(docs[0], scores[0], strict=True) if s > 0]
            fused: dict[str, float] = {}
            dense_rank = {cid: r for r, (cid, _) in enumerate(dense, 1)}
            sparse_rank = {cid: r for r, cid in enumerate(sparse, 1)}
            for cid, rank in dense_rank.items():
                fused[cid] = fused.get(cid, 0.0) + 1.0 / (RRF_K + rank)
            for cid, rank in sparse_rank.items():
                fused[cid] = fused.get(cid, 0.0) + 1.0 / (RRF_K + rank)
            best = sorted(fused.items(), key=lambda kv: -kv[1])[:k]
            results.append(
                [
                    Hit(self.chunks[cid], score, dense_rank.get(cid), sparse_rank.get(cid))
                    for cid, score in best
                    if cid in self.chunks
                ]
            )
        return results
