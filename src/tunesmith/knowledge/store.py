"""Where chunks and vectors live: embedded LanceDB by default, PostgreSQL + pgvector for teams.

Both stores answer the same questions (dense neighbours, keyword matches, the
chunks by id, the manifest of what was ingested), so retrieval, evaluation,
synthesis and serving do not know which one they talk to.

LanceDB index folder::

    manifest.json   embedder, chunk settings, and per file its hash and chunk ids
    lancedb/        the `chunks` table (id, file, doc, heading, start, end, text, vector)
    bm25/           the bm25s sparse index over the same chunks

PostgreSQL: ``<prefix>_<name>_chunks`` (with a ``vector`` column under an HNSW
cosine index and a generated ``tsvector`` under a GIN index) and
``<prefix>_<name>_manifest``. Keyword search there is PostgreSQL's own full-text
ranking, so several machines share one index with no local files.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.core.atomic import atomic_write_json
from tunesmith.core.deps import require
from tunesmith.core.errors import ConfigError
from tunesmith.knowledge.chunk import Chunk
from tunesmith.knowledge.config import KnowledgeConfig

TABLE = "chunks"
_COLUMNS = ["id", "file", "doc", "heading", "start", "end", "text"]
# Past this many rows a flat scan stops being the fast option; LanceDB then gets an ANN index.
ANN_MIN_ROWS = 20_000


@dataclass(frozen=True)
class Filters:
    """Metadata filters: a glob over the source (`kb/policies/*`) and a heading substring."""

    source: str | None = None
    heading: str | None = None

    def __bool__(self) -> bool:
        return bool(self.source or self.heading)

    def accepts(self, chunk: Chunk) -> bool:
        if self.source and not fnmatch.fnmatch(chunk.doc, self.source):
            return False
        return not (self.heading and self.heading.lower() not in chunk.heading.lower())

    def like_source(self) -> str | None:
        """The glob as an SQL LIKE pattern (``\\`` escapes literal % and _)."""
        if not self.source:
            return None
        escaped = self.source.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return escaped.replace("*", "%").replace("?", "_")


def _chunk(row: dict[str, Any]) -> Chunk:
    return Chunk(**{k: row[k] for k in ("id", "doc", "heading", "start", "end", "text")})


class LanceStore:
    """Embedded and persistent: a folder in the project, no server."""

    kind = "lancedb"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._db: Any = None
        self._chunks: dict[str, Chunk] | None = None
        self._vectors: tuple[list[str], np.ndarray] | None = None
        self._bm25: Any = None
        self._bm25_ids: list[str] | None = None
        self._writing = False

    @property
    def location(self) -> str:
        return str(self.folder)

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
    @contextmanager
    def writing(self) -> Iterator[None]:
        """This process alone changes the index for the block (`knowledge.index.build_index`); re-entered
        through the same store, the block already holds it."""
        import fcntl

        if self._writing:
            yield
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / ".ingest.lock").open("a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                _note_waiting(self.location)
                fcntl.flock(lock, fcntl.LOCK_EX)
            self._writing = True
            try:
                yield
            finally:
                self._writing = False  # and the lock goes with the file's closing

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
        if self._table() is not None:
            self._connect().drop_table(TABLE)
        self._chunks = self._vectors = None

    def add(self, files: list[tuple[str, list[Chunk]]], vectors: np.ndarray) -> None:
        rows = []
        i = 0
        for file, chunks in files:
            for c in chunks:
                rows.append(
                    {
                        "id": c.id,
                        "file": file,
                        "doc": c.doc,
                        "heading": c.heading,
                        "start": c.start,
                        "end": c.end,
                        "text": c.text,
                        "vector": vectors[i].astype(np.float32),
                    }
                )
                i += 1
        if not rows:
            return
        table = self._table()
        if table is None:
            self._connect().create_table(TABLE, data=rows)
        else:
            table.add(rows)
        self._chunks = self._vectors = None

    def delete_files(self, files: list[str]) -> None:
        table = self._table()
        if table is None or not files:
            return
        for start in range(0, len(files), 500):
            quoted = ", ".join("'" + f.replace("'", "''") + "'" for f in files[start : start + 500])
            table.delete(f"file IN ({quoted})")
        self._chunks = self._vectors = None

    def finish(self, changed: bool) -> None:
        """After an ingest: rebuild the keyword index, and the ANN index once the table is large."""
        if not changed and (self.folder / "bm25" / "ids.json").exists():
            return
        chunks = self.all_chunks()
        self._save_bm25(chunks)
        table = self._table()
        if table is not None and len(chunks) >= ANN_MIN_ROWS:
            # IVF partitions of about 4k rows; refine_factor at query time repairs PQ's rounding
            table.create_index(
                metric="cosine",
                vector_column_name="vector",
                index_type="IVF_HNSW_SQ",
                num_partitions=max(1, len(chunks) // 4096),
                replace=True,
            )

    def all_chunks(self) -> list[Chunk]:
        return list(self._chunk_map().values())

    def _chunk_map(self) -> dict[str, Chunk]:
        if self._chunks is None:
            table = self._table()
            rows = [] if table is None else table.to_arrow().select(_COLUMNS).to_pylist()
            self._chunks = {r["id"]: _chunk(r) for r in rows}
        return self._chunks

    def get(self, ids: list[str]) -> dict[str, Chunk]:
        chunks = self._chunk_map()
        return {i: chunks[i] for i in ids if i in chunks}

    def count(self) -> int:
        table = self._table()
        return 0 if table is None else int(table.count_rows())

    def dense_search(
        self, vector: np.ndarray, limit: int, filters: Filters | None = None, *, exhaustive: bool = False
    ) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity), best first.

        ``exhaustive`` scans every row instead of using the ANN index (built from
        20k rows): exact, and the reference the index's recall is measured against.
        """
        if not filters and not exhaustive:
            exact = self._exact(vector, limit)
            if exact is not None:
                return exact
        table = self._table()
        if table is None:
            return []
        query = table.search(vector.astype(np.float32)).distance_type("cosine").limit(limit)
        if exhaustive:
            query = query.bypass_vector_index()
        where = self._where(filters)
        if where:
            query = query.where(where, prefilter=True)
        rows = query.select(["id", "_distance"]).to_list()
        return [(r["id"], 1.0 - float(r["_distance"])) for r in rows]

    def _exact(self, vector: np.ndarray, limit: int) -> list[tuple[str, float]] | None:
        """Below the ANN index's size, every row scored in memory: exact, and one matrix product instead of a
        LanceDB query per search (a data build searches hundreds of times: 200 searches of the example's 127
        chunks took 0.02 s against 3.2 s, the same top 20 each time). None above that size: the index answers."""
        if self._vectors is None:
            table = self._table()
            if table is None:
                return []
            if table.count_rows() >= ANN_MIN_ROWS:
                return None
            rows = table.to_arrow().select(["id", "vector"])
            ids = rows.column("id").to_pylist()
            matrix = (
                np.stack([np.asarray(v, dtype=np.float32) for v in rows.column("vector").to_pylist()])
                if ids
                else np.zeros((0, len(vector)), np.float32)
            )
            norms = np.linalg.norm(matrix, axis=1, keepdims=True)
            self._vectors = (ids, matrix / np.where(norms == 0, 1, norms))
        ids, matrix = self._vectors
        if not ids:
            return []
        query = vector.astype(np.float32)
        sims = matrix @ (query / (np.linalg.norm(query) or 1.0))
        top = np.argsort(-sims, kind="stable")[:limit]
        return [(ids[i], float(sims[i])) for i in top]

    @staticmethod
    def _where(filters: Filters | None) -> str | None:
        if not filters:
            return None
        clauses = []
        like = filters.like_source()
        if like:
            clauses.append("doc LIKE '" + like.replace("'", "''") + "' ESCAPE '\\'")
        if filters.heading:
            clauses.append("lower(heading) LIKE '%" + filters.heading.lower().replace("'", "''") + "%'")
        return " AND ".join(clauses)

    # -- keywords -----------------------------------------------------------------
    def _save_bm25(self, chunks: list[Chunk]) -> None:
        bm25s = require("bm25s", purpose="keyword search")
        folder = self.folder / "bm25"
        folder.mkdir(parents=True, exist_ok=True)
        if chunks:
            retriever = bm25s.BM25()
            tokens = bm25s.tokenize([c.embed_text for c in chunks], stopwords="en", show_progress=False)
            retriever.index(tokens, show_progress=False)
            retriever.save(str(folder), show_progress=False)
        atomic_write_json(folder / "ids.json", [c.id for c in chunks])
        self._bm25, self._bm25_ids = None, None

    def _load_bm25(self) -> tuple[Any, list[str]]:
        if self._bm25_ids is None:
            bm25s = require("bm25s", purpose="keyword search")
            folder = self.folder / "bm25"
            ids_path = folder / "ids.json"
            self._bm25_ids = json.loads(ids_path.read_text(encoding="utf-8")) if ids_path.exists() else []
            self._bm25 = bm25s.BM25.load(str(folder)) if self._bm25_ids else None
        return self._bm25, self._bm25_ids

    def keyword_search(self, query: str, limit: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        """(chunk id, BM25 score), best first; only chunks sharing a word with the query."""
        bm25s = require("bm25s", purpose="keyword search")
        bm25, ids = self._load_bm25()
        tokens = bm25s.tokenize([query], stopwords="en", return_ids=False, show_progress=False)[0]
        if bm25 is None or not tokens:
            return []
        # With filters, fetch more and filter afterwards: BM25 has no metadata.
        n = min(len(ids), limit * (10 if filters else 1))
        docs, scores = bm25.retrieve([tokens], k=n, show_progress=False)
        out = []
        chunks = self._chunk_map() if filters else {}
        for d, s in zip(docs[0], scores[0], strict=True):
            if s <= 0:
                break
            cid = ids[int(d)]
            if filters and (cid not in chunks or not filters.accepts(chunks[cid])):
                continue
            out.append((cid, float(s)))
            if len(out) == limit:
                break
        return out


_TSWORD = re.compile(r"\w+")


class PgVectorStore:
    """PostgreSQL + pgvector: one index shared by a team, searched by the server."""

    kind = "pgvector"

    def __init__(self, url: str, table_prefix: str, name: str) -> None:
        self.url = url
        safe = re.sub(r"[^a-z0-9_]", "_", name.lower())
        self.chunks_table = f"{table_prefix}_{safe}_chunks"
        self.manifest_table = f"{table_prefix}_{safe}_manifest"
        self._conn: Any = None

    @property
    def location(self) -> str:
        # never print a password
        return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", self.url) + f" ({self.chunks_table})"

    def _db(self) -> Any:
        if self._conn is None:
            psycopg = require("psycopg", purpose="the PostgreSQL knowledge-base store")
            try:
                self._conn = psycopg.connect(self.url, autocommit=True)
            except psycopg.OperationalError as exc:
                raise ConfigError(
                    f"cannot connect to PostgreSQL: {str(exc).strip().splitlines()[0]}",
                    where=self.location,
                    fix="Start the server or fix knowledge.store.url / url_env.",
                ) from None
            self._conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            self._conn.execute(f"CREATE TABLE IF NOT EXISTS {self.manifest_table} (key text PRIMARY KEY, value jsonb)")
        return self._conn

    @contextmanager
    def writing(self) -> Iterator[None]:
        """This process alone changes the index for the block, across machines: a session-level advisory lock
        named after the chunks table, on the store's own connection (so re-entering it through the same store
        holds it again rather than waiting)."""
        db = self._db()
        key = f"tunesmith-kb:{self.chunks_table}"
        if not db.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()[0]:
            _note_waiting(self.location)
            db.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
        try:
            yield
        finally:
            db.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))

    def manifest(self) -> dict[str, Any]:
        row = self._db().execute(f"SELECT value FROM {self.manifest_table} WHERE key = 'manifest'").fetchone()
        return dict(row[0]) if row else {}

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        self._db().execute(
            f"INSERT INTO {self.manifest_table} (key, value) VALUES ('manifest', %s::jsonb) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            (json.dumps(manifest),),
        )

    def exists(self) -> bool:
        return bool(self.manifest())

    def drop(self) -> None:
        self._db().execute(f"DROP TABLE IF EXISTS {self.chunks_table}")

    def _create(self, dim: int) -> None:
        db = self._db()
        db.execute(
            f"CREATE TABLE IF NOT EXISTS {self.chunks_table} (id text PRIMARY KEY, file text NOT NULL, "
            'doc text NOT NULL, heading text NOT NULL, start integer NOT NULL, "end" integer NOT NULL, '
            f"text text NOT NULL, vector vector({dim}) NOT NULL, "
            "tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', heading || ' ' || text)) STORED)"
        )
        db.execute(
            f"CREATE INDEX IF NOT EXISTS {self.chunks_table}_hnsw ON {self.chunks_table} "
            "USING hnsw (vector vector_cosine_ops)"
        )
        db.execute(f"CREATE INDEX IF NOT EXISTS {self.chunks_table}_tsv ON {self.chunks_table} USING gin (tsv)")
        db.execute(f"CREATE INDEX IF NOT EXISTS {self.chunks_table}_file ON {self.chunks_table} (file)")

    def add(self, files: list[tuple[str, list[Chunk]]], vectors: np.ndarray) -> None:
        if not len(vectors):
            return
        self._create(int(vectors.shape[1]))
        rows = []
        i = 0
        for file, chunks in files:
            for c in chunks:
                literal = "[" + ",".join(f"{x:.7g}" for x in vectors[i]) + "]"
                rows.append((c.id, file, c.doc, c.heading, c.start, c.end, c.text, literal))
                i += 1
        with self._db().cursor() as cur:
            cur.executemany(
                f'INSERT INTO {self.chunks_table} (id, file, doc, heading, start, "end", text, vector) '
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s::vector) ON CONFLICT (id) DO UPDATE SET "
                "file = EXCLUDED.file, doc = EXCLUDED.doc, heading = EXCLUDED.heading, start = EXCLUDED.start, "
                '"end" = EXCLUDED."end", text = EXCLUDED.text, vector = EXCLUDED.vector',
                rows,
            )

    def _has_table(self) -> bool:
        row = self._db().execute("SELECT to_regclass(%s)", (self.chunks_table,)).fetchone()
        return bool(row and row[0])

    def delete_files(self, files: list[str]) -> None:
        if files and self._has_table():
            self._db().execute(f"DELETE FROM {self.chunks_table} WHERE file = ANY(%s)", (files,))

    def finish(self, changed: bool) -> None:
        if changed and self._has_table():
            self._db().execute(f"ANALYZE {self.chunks_table}")

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Chunk]:
        if not self._has_table():
            return []
        rows = self._db().execute(sql, params).fetchall()
        return [Chunk(id=r[0], doc=r[1], heading=r[2], start=r[3], end=r[4], text=r[5]) for r in rows]

    def all_chunks(self) -> list[Chunk]:
        return self._rows(f'SELECT id, doc, heading, start, "end", text FROM {self.chunks_table} ORDER BY file, start')

    def get(self, ids: list[str]) -> dict[str, Chunk]:
        if not ids:
            return {}
        chunks = self._rows(
            f'SELECT id, doc, heading, start, "end", text FROM {self.chunks_table} WHERE id = ANY(%s)', (ids,)
        )
        return {c.id: c for c in chunks}

    def count(self) -> int:
        if not self._has_table():
            return 0
        return int(self._db().execute(f"SELECT count(*) FROM {self.chunks_table}").fetchone()[0])

    def _filter_sql(self, filters: Filters | None) -> tuple[str, list[Any]]:
        if not filters:
            return "", []
        clauses, params = [], []
        like = filters.like_source()
        if like:
            clauses.append("doc LIKE %s")
            params.append(like)
        if filters.heading:
            clauses.append("heading ILIKE %s")
            params.append("%" + filters.heading.replace("%", "\\%").replace("_", "\\_") + "%")
        return " AND " + " AND ".join(clauses), params

    def dense_search(self, vector: np.ndarray, limit: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        if not self._has_table():
            return []
        where, params = self._filter_sql(filters)
        literal = "[" + ",".join(f"{x:.7g}" for x in vector) + "]"
        rows = (
            self._db()
            .execute(
                f"SELECT id, 1 - (vector <=> %s::vector) FROM {self.chunks_table} WHERE true{where} "
                "ORDER BY vector <=> %s::vector LIMIT %s",
                (literal, *params, literal, limit),
            )
            .fetchall()
        )
        return [(r[0], float(r[1])) for r in rows]

    def keyword_search(self, query: str, limit: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        """PostgreSQL full-text search: any of the query's words (OR, like BM25), ranked by ts_rank_cd."""
        words = _TSWORD.findall(query.lower())
        if not words or not self._has_table():
            return []
        where, params = self._filter_sql(filters)
        tsquery = " | ".join(dict.fromkeys(words))
        rows = (
            self._db()
            .execute(
                f"SELECT id, ts_rank_cd(tsv, q) AS score FROM {self.chunks_table}, "
                f"to_tsquery('english', %s) q WHERE tsv @@ q{where} ORDER BY score DESC, id LIMIT %s",
                (tsquery, *params, limit),
            )
            .fetchall()
        )
        return [(r[0], float(r[1])) for r in rows]


ChunkStore = LanceStore | PgVectorStore

INDEX_ROOT = Path(".tunesmith") / "kb"


def _note_waiting(location: str) -> None:
    from tunesmith.core.progress import note

    note(f"Waiting for another process updating the knowledge-base index at {location}")


def index_dir(project_dir: Path, name: str) -> Path:
    return project_dir / INDEX_ROOT / name


def open_store(cfg: KnowledgeConfig, project_dir: Path, name: str | None = None) -> ChunkStore:
    """The store the project file names, for index ``name`` (the project's own by default)."""
    name = name or cfg.name
    if cfg.store.kind == "lancedb":
        return LanceStore(index_dir(project_dir, name))
    url = cfg.store.url
    if cfg.store.url_env:
        url = os.environ.get(cfg.store.url_env)
        if not url:
            raise ConfigError(
                f"the environment variable {cfg.store.url_env} is not set",
                where="knowledge.store.url_env",
                fix=f"export {cfg.store.url_env}=postgresql://user:password@host:5432/db",
            )
    if not url:
        raise ConfigError(
            "the pgvector store needs a PostgreSQL URL",
            where="knowledge.store",
            fix="Set knowledge.store.url_env (or url) to postgresql://user@host:5432/db.",
        )
    return PgVectorStore(url, cfg.store.table_prefix, name)
