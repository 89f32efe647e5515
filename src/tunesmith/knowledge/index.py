"""Build or update an index from files: incremental by content hash, file by file."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tunesmith.core.errors import DataError
from tunesmith.knowledge.chunk import chunk_document
from tunesmith.knowledge.config import RecordsConfig
from tunesmith.knowledge.documents import Document, find_files, read_documents, relative_name
from tunesmith.knowledge.embed import load_embedder
from tunesmith.knowledge.store import ChunkStore

# Bumped when what an index stores changes shape, so old indexes are rebuilt rather than misread.
INDEX_FORMAT = 2


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # path -> reason
    chunks: int = 0
    documents: int = 0
    files: int = 0
    new_chunks: int = 0
    rebuilt: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "files": self.files,
            "documents": self.documents,
            "chunks": self.chunks,
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "unchanged": len(self.unchanged),
            "failed": self.failed,
            "new_chunks": self.new_chunks,
            "rebuilt": self.rebuilt,
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
    records: RecordsConfig | None = None,
    prune: bool = True,
    on_progress: Callable[..., None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> IngestReport:
    """Ingest ``paths`` into ``store``: skip unchanged files, replace changed ones, drop removed ones.

    ``prune=False`` only forgets files that were under ``paths`` and are gone, and keeps files other
    paths put in the index (adding a folder to an index without forgetting the rest). A change of embedder, chunk or record settings invalidates every
    vector, so the index is rebuilt.

    One process at a time (`store.writing`): two reading the same manifest would both replace a changed
    file's chunks, leaving every one of them twice in the table (measured: 254 rows for 127 chunks).
    """
    with store.writing():
        report = IngestReport()
        settings = {
            "format": INDEX_FORMAT,
            "embedder": embedder,
            "chunk_tokens": chunk_tokens,
            "chunk_overlap": chunk_overlap,
            "records": records.model_dump() if records else None,
        }
        manifest = store.manifest()
        if not manifest or manifest.get("settings") != settings:
            report.rebuilt = bool(manifest)
            store.drop()
            manifest = {"settings": settings, "files": {}}
        known: dict[str, dict[str, object]] = manifest["files"]

        read = _read_all(find_files(base_dir, paths, include, exclude), base_dir, records, report)
        digests = {rel: docs[0].sha256 for rel, docs in read.items()}
        roots = [relative_name(base_dir / p if not Path(p).is_absolute() else Path(p), base_dir) for p in paths]

        def in_scope(rel: str) -> bool:
            return prune or any(rel == r or rel.startswith(r.rstrip("/") + "/") for r in roots)

        report.removed = sorted(p for p in known if p not in read and p not in report.failed and in_scope(p))
        todo: list[str] = []
        for rel in sorted(read):
            previous = known.get(rel)
            if previous and previous.get("sha256") == digests[rel]:
                report.unchanged.append(rel)
            else:
                (report.changed if previous else report.added).append(rel)
                todo.append(rel)

        pieces = [
            (rel, [c for doc in read[rel] for c in chunk_document(doc, budget=chunk_tokens, overlap=chunk_overlap)])
            for rel in todo
        ]
        flat = [c for _, chunks in pieces for c in chunks]
        report.new_chunks = len(flat)
        if on_total is not None:
            on_total(len(flat))
        store.delete_files(report.removed + report.changed)
        if flat:
            model = load_embedder(embedder)
            vectors = model.encode([c.embed_text for c in flat], on_progress=on_progress)
            store.add(pieces, vectors)
        for rel in report.removed:
            known.pop(rel, None)
        for rel, chunks in pieces:
            known[rel] = {"sha256": digests[rel], "documents": len(read[rel]), "chunks": [c.id for c in chunks]}
        store.finish(bool(todo or report.removed))
        store.write_manifest(manifest)
        report.files = len(known)
        report.documents = sum(int(v.get("documents", 1)) for v in known.values())  # type: ignore[call-overload]
        report.chunks = sum(len(v["chunks"]) for v in known.values())  # type: ignore[arg-type]
        return report


def _read_all(
    files: Iterable[Path], base_dir: Path, records: RecordsConfig | None, report: IngestReport
) -> dict[str, list[Document]]:
    """Each readable, non-empty file's documents by relative name; the others go to ``report.failed``."""
    read: dict[str, list[Document]] = {}
    for path in files:
        rel = relative_name(path, base_dir)
        try:
            docs = read_documents(path, base_dir, records)
        except DataError as exc:
            report.failed[rel] = exc.what
            continue
        except OSError as exc:
            report.failed[rel] = f"cannot read ({exc.strerror or exc})"
            continue
        if not any(d.text.strip() for d in docs):
            report.failed[rel] = "empty document"
            continue
        read[rel] = docs
    return read
