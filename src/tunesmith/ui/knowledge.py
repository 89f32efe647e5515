"""The Knowledge page: indexed documents, their chunks, and ranked search with sources."""

from __future__ import annotations

import functools
from typing import Any

from tunesmith.knowledge.store import open_store
from tunesmith.project import LoadedProject


def documents(loaded: LoadedProject) -> dict[str, Any]:
    cfg = loaded.config.knowledge
    store = open_store(cfg, loaded.dir)
    manifest = store.manifest() if store.exists() else {}
    files = manifest.get("files") or {}
    return {
        "name": cfg.name,
        "paths": [str(p) for p in cfg.paths],
        "location": store.location,
        "indexed": bool(manifest),
        "settings": manifest.get("settings"),
        "documents": [
            {"file": name, "chunks": len(facts.get("chunks") or []), "sha256": facts.get("sha256", "")[:12]}
            for name, facts in sorted(files.items())
        ],
        "chunks": sum(len(f.get("chunks") or []) for f in files.values()),
    }


def chunks(loaded: LoadedProject, file: str) -> list[dict[str, Any]]:
    store = open_store(loaded.config.knowledge, loaded.dir)
    ids = ((store.manifest().get("files") or {}).get(file) or {}).get("chunks") or []
    found = store.get(list(ids))
    return [
        {"id": c.id, "heading": c.heading, "start": c.start, "end": c.end, "text": c.text}
        for c in (found[i] for i in ids if i in found)
    ]


@functools.lru_cache(maxsize=4)
def _retriever(project_dir: str, stamp: str, cfg_json: str) -> Any:
    from pathlib import Path

    from tunesmith.knowledge.config import KnowledgeConfig
    from tunesmith.knowledge.retrieve import Retriever

    return Retriever.open(KnowledgeConfig.model_validate_json(cfg_json), Path(project_dir))


def search(loaded: LoadedProject, query: str, *, k: int = 5, mode: str = "hybrid") -> list[dict[str, Any]]:
    cfg = loaded.config.knowledge
    store = open_store(cfg, loaded.dir)
    # a re-index changes the manifest: a new retriever then, the cached one otherwise (the embedder stays loaded)
    stamp = str(hash(str(store.manifest().get("files"))))
    retriever = _retriever(str(loaded.dir), stamp, cfg.model_dump_json())
    hits = retriever.search(query, k, mode=mode)  # type: ignore[arg-type]
    return [
        {
            "rank": rank,
            **hit.citation(),
            "dense_rank": hit.dense_rank,
            "keyword_rank": hit.bm25_rank,
            "text": hit.chunk.text,
        }
        for rank, hit in enumerate(hits, 1)
    ]
