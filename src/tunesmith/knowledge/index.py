"""Build or update an index from files: incremental by content hash."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tunesmith.core.errors import DataError
from tunesmith.knowledge.chunk import Chunk, chunk_document
from tunesmith.knowledge.documents import Document, find_files, read_document
from tunesmith.knowledge.embed import load_embedder
from tunesmith.knowledge.store import ChunkStore


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # path -> reason
    chunks: int = 0
    documents: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "documents": self.documents,
            "chunks": self.chunks,
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "unchanged": len(self.unchanged),
            "failed": self.failed,
        }


def build_index(
    store: ChunkStore,
    base_dir: Path,
    *,
    paths: list[str],
    include: list[str],
    exclude: list[str],
    embedder: str,
    chunk_tokens: int,
    chunk_overlap: int,
    on_progress: Callable[..., None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> IngestReport:
    """Ingest ``paths`` into ``store``: skip unchanged files, replace changed ones, drop removed ones.

    A change of embedder or chunk settings invalidates every vector, so the index is rebuilt.
    """
    report = IngestReport()
    settings = {"embedder": embedder, "chunk_tokens": chunk_tokens, "chunk_overlap": chunk_overlap}
    manifest = store.manifest()
    if not manifest or manifest.get("settings") != settings:
        store.drop()
        manifest = {"settings": settings, "documents": {}}
    known: dict[str, dict[str, object]] = manifest["documents"]

    docs: list[Document] = []
    for path in find_files(base_dir, paths, include, exclude):
        try:
            doc = read_document(path, base_dir)
        except DataError as exc:
            report.failed[str(path)] = exc.what
            continue
        if not doc.text.strip():
            report.failed[doc.path] = "empty document"
            continue
        docs.append(doc)
    seen = {d.path for d in docs}
    report.removed = sorted(p for p in known if p not in seen)
    todo: list[Document] = []
    for doc in docs:
        previous = known.get(doc.path)
        if previous and previous.get("sha256") == doc.sha256:
            report.unchanged.append(doc.path)
        else:
            (report.changed if previous else report.added).append(doc.path)
            todo.append(doc)

    new_chunks: list[Chunk] = []
    chunks_of: dict[str, list[str]] = {}
    for doc in todo:
        pieces = chunk_document(doc, budget=chunk_tokens, overlap=chunk_overlap)
        chunks_of[doc.path] = [c.id for c in pieces]
        new_chunks.extend(pieces)
    if on_total is not None:
        on_total(len(new_chunks))
    store.delete_docs(report.removed + report.changed)
    if new_chunks:
        model = load_embedder(embedder)
        vectors = model.encode([c.embed_text for c in new_chunks], on_progress=on_progress)
        store.add(new_chunks, vectors)
    for path in report.removed:
        known.pop(path, None)
    for doc in todo:
        known[doc.path] = {"sha256": doc.sha256, "chunks": chunks_of[doc.path]}
    if todo or report.removed or not (store.folder / "bm25" / "ids.json").exists():
        store.save_bm25(store.all_chunks())
    store.write_manifest(manifest)
    report.documents = len(known)
    report.chunks = sum(len(v["chunks"]) for v in known.values())  # type: ignore[arg-type]
    return report
