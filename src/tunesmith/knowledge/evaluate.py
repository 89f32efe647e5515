"""Retrieval evaluation: recall@k and MRR against labelled query -> source pairs.

A labelled query names the document(s) that answer it (a path, or a glob such
as ``kb/policies/returns.md`` or ``kb/faq.csv#*``), optionally a heading the
right chunk sits under. Every retrieval mode is scored on the same queries, so
a change of chunking, embedder or reranker shows up as numbers with intervals.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.core.errors import DataError
from tunesmith.core.stats import bootstrap_mean
from tunesmith.knowledge.retrieve import Hit, Mode, Retriever

KS = (1, 3, 5, 10)


@dataclass(frozen=True)
class LabelledQuery:
    query: str
    sources: tuple[str, ...]
    heading: str | None
    line: int

    def relevant(self, hit: Hit) -> str | None:
        """The labelled source this hit satisfies, if any."""
        if self.heading and self.heading.lower() not in hit.chunk.heading.lower():
            return None
        for source in self.sources:
            if hit.chunk.doc == source or fnmatch.fnmatch(hit.chunk.doc, source):
                return source
        return None


def read_queries(path: Path) -> list[LabelledQuery]:
    """Read QUERIES.jsonl: {"query": ..., "source": ... | "sources": [...], "heading": optional}."""
    if not path.exists():
        raise DataError("file not found", where=str(path), fix="Pass a JSONL file of labelled queries.")
    queries: list[LabelledQuery] = []
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        fix = 'Each line: {"query": "...", "source": "kb/file.md"} (or "sources": [...]).'
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"not valid JSON ({exc.msg})", where=where, fix=fix) from None
        if not isinstance(row, dict) or not isinstance(row.get("query"), str) or not row["query"].strip():
            raise DataError("missing the 'query' text", where=where, fix=fix)
        sources = row.get("sources", [row["source"]] if "source" in row else None)
        if not isinstance(sources, list) or not sources or not all(isinstance(s, str) and s for s in sources):
            raise DataError("missing 'source' (a document path) or 'sources' (a list of them)", where=where, fix=fix)
        unknown = set(row) - {"query", "source", "sources", "heading", "id"}
        if unknown:
            raise DataError(f"unknown field(s) {sorted(unknown)}", where=where, fix=fix)
        heading = row.get("heading")
        if heading is not None and not isinstance(heading, str):
            raise DataError("'heading' must be text", where=where, fix=fix)
        queries.append(LabelledQuery(row["query"], tuple(sources), heading, number))
    if not queries:
        raise DataError("no queries in the file", where=str(path), fix="Add one labelled query per line.")
    return queries


def _interval(values: np.ndarray) -> dict[str, float]:
    """Mean with a 95% percentile-bootstrap interval over queries."""
    return bootstrap_mean(list(values), resamples=1000).rounded()


def score_mode(
    retriever: Retriever, queries: list[LabelledQuery], mode: Mode, *, rerank: bool, ks: tuple[int, ...] = KS
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    depth = max(ks)
    hits_per_query = retriever.search_many([q.query for q in queries], k=depth, mode=mode, rerank=rerank)
    recall = {k: np.zeros(len(queries)) for k in ks}
    reciprocal = np.zeros(len(queries))
    details = []
    for i, (query, hits) in enumerate(zip(queries, hits_per_query, strict=True)):
        first: int | None = None
        found_at: dict[str, int] = {}
        for rank, hit in enumerate(hits, 1):
            source = query.relevant(hit)
            if source is not None:
                first = first or rank
                found_at.setdefault(source, rank)
        for k in ks:
            recall[k][i] = sum(1 for r in found_at.values() if r <= k) / len(query.sources)
        reciprocal[i] = 1.0 / first if first else 0.0
        details.append(
            {
                "line": query.line,
                "query": query.query,
                "sources": list(query.sources),
                "first_relevant_rank": first,
                "top": [h.chunk.doc + (f" > {h.chunk.heading}" if h.chunk.heading else "") for h in hits[:3]],
            }
        )
    summary: dict[str, Any] = {f"recall@{k}": _interval(recall[k]) for k in ks}
    summary[f"mrr@{depth}"] = _interval(reciprocal)
    return summary, details


def evaluate(retriever: Retriever, queries: list[LabelledQuery], modes: list[str] | None = None) -> dict[str, Any]:
    """Scores per retrieval mode (hybrid, dense, keyword, and rerank when a reranker is set)."""
    modes = modes or (["hybrid", "dense", "keyword"] + (["rerank"] if retriever.reranker is not None else []))
    result: dict[str, Any] = {"queries": len(queries), "modes": {}, "misses": {}}
    for mode in modes:
        summary, details = score_mode(
            retriever,
            queries,
            "hybrid" if mode == "rerank" else mode,
            rerank=mode == "rerank",  # type: ignore[arg-type]
        )
        result["modes"][mode] = summary
        result["misses"][mode] = [d for d in details if d["first_relevant_rank"] is None]
    return result
