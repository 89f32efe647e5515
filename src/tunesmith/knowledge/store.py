"""The on-disk index: chunks and vectors in LanceDB, a BM25 index beside them.

Layout of an index folder::

    manifest.json   embedder, chunk settings, and per document its hash and chunk ids
    lancedb/        the `chunks` table (id, doc, heading, start, end, text, vector)
    bm25/           the bm25s sparse index over the same chunks, in table order

LanceDB is embedded (no server) and persistent; the same table API talks to a
LanceDB Cloud / server URI for teams, so moving up is configuration.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.core.atomic import atomic_write_json
from tunesmith.core.deps import require
from tunesmith.knowledge.chunk import Chunk

TABLE = "chunks"


class ChunkStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._db: Any = None

    # -- manifest -----------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.folder / "manifest.json"

    def manifest(self) -> dict[str, Any]:
        if not self.manifest_path.exists():
            return {}
        return dict(json.loads(self.manifest_path.read_text(encoding="utf-8")))

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write_json(self.manifest_path, manifest)

    def exists(self) -> bool:
        return self.manifest_path.exists()

    # -- table --------------------------------------------------------------------
    def _connect(self) -> Any:
        if self._db is None:
            lancedb = require("lancedb", purpose="the knowledge-base index")
            self._db = lancedb.connect(str(self.folder / "lancedb"))
        return self._db

    def _table(self) -> Any | None:
        db = self._connect()
        names = db.list_tables()
        names = getattr(names, "tables", names)
        return db.open_table(TABLE) if TABLE in names else None

    def drop(self) -> None:
        db = self._connect()
        if self._table() is not None:
            db.drop_table(TABLE)

    def add(self, chunks: list[Chunk], vectors: np.ndarray) -> None:
        if not chunks:
            return
        rows = [
            {
                "id": c.id,
                "doc": c.doc,
                "heading": c.heading,
                "start": c.start,
                "end": c.end,
                "text": c.text,
                "vector": vectors[i].astype(np.float32).tolist(),
            }
            for i, c in enumerate(chunks)
        ]
        table = self._table()
        if table is None:
            self._connect().create_table(TABLE, data=rows)
        else:
            table.add(rows)

    def delete_docs(self, docs: list[str]) -> None:
        table = self._table()
        if table is None or not docs:
            return
        quoted = ", ".join("'" + d.replace("'", "''") + "'" for d in docs)
        table.delete(f"doc IN ({quoted})")

    def all_chunks(self) -> list[Chunk]:
        table = self._table()
        if table is None:
            return []
        data = table.to_arrow().select(["id", "doc", "heading", "start", "end", "text"]).to_pylist()
        return [Chunk(**row) for row in data]

    def dense_search(self, vector: np.ndarray, limit: int, where: str | None = None) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity), best first."""
        table = self._table()
        if table is None:
            return []
        query = table.search(vector.astype(np.float32)).distance_type("cosine").limit(limit)
        if where:
            query = query.where(where, prefilter=True)
        rows = query.select(["id", "_distance"]).to_list()
        return [(r["id"], 1.0 - float(r["_distance"])) for r in rows]

    # -- bm25 ---------------------------------------------------------------------
    def save_bm25(self, chunks: list[Chunk]) -> None:
        bm25s = require("bm25s", purpose="keyword search")
        folder = self.folder / "bm25"
        folder.mkdir(parents=True, exist_ok=True)
        retriever = bm25s.BM25()
        if chunks:
            tokens = bm25s.tokenize([c.embed_text for c in chunks], stopwords="en", show_progress=False)
            retriever.index(tokens, show_progress=False)
            retriever.save(str(folder), show_progress=False)
        atomic_write_json(folder / "ids.json", [c.id for c in chunks])

    def load_bm25(self) -> tuple[Any, list[str]]:
        bm25s = require("bm25s", purpose="keyword search")
        folder = self.folder / "bm25"
        ids = json.loads((folder / "ids.json").read_text(encoding="utf-8"))
        if not ids:
            return None, []
        return bm25s.BM25.load(str(folder)), ids
