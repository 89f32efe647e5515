"""The `kb ingest` step: index the project's knowledge base, with progress, incrementally."""

from __future__ import annotations

from pathlib import Path

from tunesmith.core.progress import task
from tunesmith.knowledge.config import KnowledgeConfig
from tunesmith.knowledge.index import IngestReport, build_index
from tunesmith.knowledge.store import ChunkStore

INDEX_ROOT = Path(".tunesmith") / "kb"


def index_dir(project_dir: Path, name: str) -> Path:
    return project_dir / INDEX_ROOT / name


def ingest(cfg: KnowledgeConfig, project_dir: Path) -> IngestReport:
    """Bring the index in line with the files; unchanged files cost nothing."""
    store = ChunkStore(index_dir(project_dir, cfg.name))
    with task(f"Indexing knowledge base '{cfg.name}'", None) as update:
        report = build_index(
            store,
            project_dir,
            paths=cfg.paths,
            include=cfg.include,
            exclude=cfg.exclude,
            embedder=cfg.embedder,
            chunk_tokens=cfg.chunk_tokens,
            chunk_overlap=cfg.chunk_overlap,
            on_progress=update,
            on_total=lambda n: update(0, total=n),
        )
        update(0, info=f"{report.documents} docs, {report.chunks} chunks")
    return report
