"""Benchmark: knowledge-base ingest rate and hybrid query latency over 100,000 chunks.

Prints one JSON object. The corpus is built from the example project's knowledge
base: sections of three of its sentences plus a product code, 100 sections per
Markdown file, so every chunk is realistic support text and some queries can
only be answered by an exact term (the code). Ingest is tunesmith's `build_index`
(read, chunk, embed with the bundled all-MiniLM-L6-v2, write LanceDB, build the
BM25 and ANN indexes). Query latency is measured end to end per query: embedding
the query, dense + BM25 search, fusion and fetching the chunks, one query at a
time (what a server request costs). Product-code lookups are scored with
z-score fusion (the default) and with reciprocal-rank fusion. The comparison, in the same run, is dense
search by exhaustive scan (no ANN index): its latency, and how many of the ANN
index's top-10 it shares (recall of the index).

    python bench/retrieval.py [--chunks 100000] [--queries 300]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from tunesmith.knowledge.chunk import split_sentences  # noqa: E402

SECTIONS_PER_FILE = 100


def sentences_of_example() -> list[str]:
    out = []
    for path in sorted((REPO / "examples/northwind-support/kb").rglob("*.md")):
        for line in path.read_text(encoding="utf-8").split("\n\n"):
            if not line.startswith("#"):
                out.extend(s for s in split_sentences(line.replace("\n", " ")) if len(s.split()) >= 5)
    return out


def make_corpus(folder: Path, chunks: int, seed: int = 0) -> list[tuple[str, str]]:
    """Write the corpus; return (code, the section's first sentence) for the query set."""
    rng = random.Random(seed)
    sentences = sentences_of_example()
    facts: list[tuple[str, str]] = []
    n_files = (chunks + SECTIONS_PER_FILE - 1) // SECTIONS_PER_FILE
    made = 0
    for f in range(n_files):
        parts = [f"# Catalog page {f}\n"]
        for s in range(min(SECTIONS_PER_FILE, chunks - made)):
            code = f"NW-{rng.randrange(16**6):06X}"
            body = " ".join(rng.sample(sentences, 3))
            parts.append(f"## Item {f}-{s}\n\nProduct code {code}. {body}\n")
            facts.append((code, body))
            made += 1
        (folder / f"page-{f:05d}.md").write_text("\n".join(parts), encoding="utf-8")
    return facts


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()

    from tunesmith.knowledge.config import KnowledgeConfig
    from tunesmith.knowledge.embed import load_embedder
    from tunesmith.knowledge.index import build_index
    from tunesmith.knowledge.retrieve import Retriever
    from tunesmith.knowledge.store import ANN_MIN_ROWS, LanceStore, index_dir

    load_embedder("bundled:all-minilm-l6-v2").encode(["warm up"])
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        (base / "kb").mkdir()
        facts = make_corpus(base / "kb", args.chunks)
        cfg = KnowledgeConfig()
        store = LanceStore(index_dir(base, cfg.name))
        started = time.perf_counter()
        report = build_index(
            store,
            base,
            paths=["kb"],
            include=cfg.include,
            exclude=[],
            embedder=cfg.embedder_spec,
            chunk_tokens=cfg.chunk_tokens,
            chunk_overlap=cfg.chunk_overlap,
        )
        ingest_s = time.perf_counter() - started

        retriever = Retriever.open(cfg, base)
        rng = random.Random(1)
        picks = rng.sample(facts, min(args.queries, len(facts)))
        # half look a fact up by meaning (a sentence of the section, reworded as a question), half by its code
        queries = [
            (f"what about {body.split('. ')[0].lower()}?", None) if i % 2 else (f"product {code}", code)
            for i, (code, body) in enumerate(picks)
        ]
        retriever.search("warm up", k=5)
        latencies, code_hits, rrf_code_hits = [], 0, 0
        for text, code in queries:
            t = time.perf_counter()
            hits = retriever.search(text, k=5)
            latencies.append((time.perf_counter() - t) * 1000)
            if code is not None and hits and code in hits[0].chunk.text:
                code_hits += 1
        # the usual alternative fusion on the same exact-term lookups
        retriever.fusion = "rrf"
        for text, code in queries:
            if code is not None:
                hits = retriever.search(text, k=1)
                rrf_code_hits += bool(hits and code in hits[0].chunk.text)
        retriever.fusion = "zscore"

        # the alternative: dense search by exhaustive scan, and how much of the ANN top-10 it agrees with
        vectors = retriever.embedder.encode([q for q, _ in queries])
        ann_ms, flat_ms, overlap = [], [], []
        for vector in vectors:
            t = time.perf_counter()
            ann = store.dense_search(vector, 10)
            ann_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            flat = store.dense_search(vector, 10, exhaustive=True)
            flat_ms.append((time.perf_counter() - t) * 1000)
            overlap.append(len({i for i, _ in ann} & {i for i, _ in flat}) / max(1, len(flat)))

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n_code = sum(1 for _, c in queries if c is not None)
    print(
        json.dumps(
            {
                "chunks": report.chunks,
                "files": report.files,
                "ingest_s": round(ingest_s, 1),
                "ingest_chunks_per_s": round(report.chunks / ingest_s, 1),
                "queries": len(queries),
                "p50_ms": round(statistics.median(latencies), 2),
                "p95_ms": round(percentile(latencies, 0.95), 2),
                "p99_ms": round(percentile(latencies, 0.99), 2),
                "exact_code_top1": round(code_hits / max(1, n_code), 4),
                "exact_code_top1_rrf": round(rrf_code_hits / max(1, n_code), 4),
                "ann_index": report.chunks >= ANN_MIN_ROWS,
                "dense_ann_p50_ms": round(statistics.median(ann_ms), 2),
                "dense_flat_p50_ms": round(statistics.median(flat_ms), 2),
                "dense_flat_p95_ms": round(percentile(flat_ms, 0.95), 2),
                "ann_recall_at_10_vs_flat": round(statistics.mean(overlap), 4),
                "peak_rss_mib": round(peak, 1),
                "threads": __import__("torch").get_num_threads(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
