"""The `kb ingest` step: index the project's knowledge base, with progress, incrementally."""

from __future__ import annotations

from pathlib import Path

from tunesmith.core.progress import task
from tunesmith.knowledge.config import KnowledgeConfig
from tunesmith.knowledge.index import IngestReport, build_index
from tunesmith.knowledge.store import ChunkStore, index_dir, open_store

__all__ = ["index_dir", "ingest"]


def ingest(
    cfg: KnowledgeConfig,
    project_dir: Path,
    *,
    paths: list[str] | None = None,
    name: str | None = None,
    store: ChunkStore | None = None,
) -> IngestReport:
    """Bring the index in line with the files; unchanged files cost nothing.

    ``paths`` (from the command line) add to the index without removing what other paths put there;
    the project's own ``knowledge.paths`` define the whole index, so files gone from them are removed.
    ``store``: one already open (the project file's, by default).
    """
    store = store if store is not None else open_store(cfg, project_dir, name)
    label = name or cfg.name
    with task(f"Indexing knowledge base '{label}'", None) as update:
        report = build_index(
            store,
            project_dir,
            paths=paths or cfg.paths,
            include=cfg.include,
            exclude=cfg.exclude,
            embedder=cfg.embedder_spec,
            chunk_tokens=cfg.chunk_tokens,
            chunk_overlap=cfg.chunk_overlap,
            records=cfg.records,
            prune=paths is None,
            on_progress=update,
            on_total=lambda n: update(0, total=n),
        )
        update(0, info=f"{report.documents} docs, {report.chunks} chunks")
    return report
