"""The server's persistent state: uploaded files, fine-tuning jobs, their events and checkpoints, stage jobs.

Stage jobs (``task-<hex>``) are any `tunesmith` stage command started from the
web UI (train, eval, tune, gate, data build, kb ingest): the worker runs the
same CLI a user would, so a job from the browser and one from a terminal make
identical run folders.

SQLite in WAL mode, one file in the project (``.tunesmith/serve/state.db``): the
API process and the worker process read and write it at once, and a restart of
either loses nothing. For a team whose workers run on other machines, the same
tables live in PostgreSQL (`serve.jobs_url_env` names the variable holding its
URL): a job is claimed with `SELECT ... FOR UPDATE SKIP LOCKED`, so two workers
never take the same one, and a worker's job whose heartbeat stops for
`serve.worker_stale_s` seconds goes back in line and resumes from its last checkpoint on
another worker (process ids mean nothing across machines).

Each claim hands the worker a lease (a token in the row): its heartbeats and its
updates name it and change nothing once the job has gone back in line, so a
worker that was only late (a frozen machine, a slow network) finds its job taken
and stops, instead of two workers writing one job's status. File contents live
beside the project (``.tunesmith/serve/files``) under ids the server made
(``file-<hex>``), never under names a client chose, so an id can never reach
outside the folder; with several machines the project folder is shared (NFS, a
mounted volume) so every worker reads the files and writes the run folders.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from tunesmith.core.errors import ConfigError

# matched whole (`fullmatch`): a `$` anchor would also accept a trailing newline
FILE_ID = re.compile(r"file-[0-9a-f]{24}")
JOB_ID = re.compile(r"ftjob-[0-9a-f]{24}")
TASK_ID = re.compile(r"task-[0-9a-f]{24}")
TERMINAL = ("succeeded", "failed", "cancelled")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
  id TEXT PRIMARY KEY, filename TEXT NOT NULL, purpose TEXT NOT NULL, bytes INTEGER NOT NULL,
  created_at INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY, model TEXT NOT NULL, training_file TEXT NOT NULL, validation_file TEXT,
  method TEXT NOT NULL, hyperparameters TEXT NOT NULL, suffix TEXT, seed INTEGER NOT NULL,
  metadata TEXT, status TEXT NOT NULL, created_at INTEGER NOT NULL, started_at INTEGER, finished_at INTEGER,
  fine_tuned_model TEXT, error TEXT, trained_tokens INTEGER, result_files TEXT NOT NULL DEFAULT '[]',
  train_run TEXT, data_run TEXT, cancel_requested INTEGER NOT NULL DEFAULT 0, worker_pid INTEGER,
  heartbeat REAL, attempts INTEGER NOT NULL DEFAULT 0, estimated_finish INTEGER, lease TEXT, worker_id TEXT,
  not_before REAL
);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, job_id TEXT NOT NULL, created_at INTEGER NOT NULL,
  level TEXT NOT NULL, message TEXT NOT NULL, type TEXT NOT NULL, data TEXT
);
CREATE INDEX IF NOT EXISTS events_job ON events (job_id, seq);
CREATE INDEX IF NOT EXISTS events_id ON events (id);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created_at);
CREATE TABLE IF NOT EXISTS checkpoints (
  id TEXT PRIMARY KEY, job_id TEXT NOT NULL, step INTEGER NOT NULL, created_at INTEGER NOT NULL,
  metrics TEXT NOT NULL, path TEXT NOT NULL, UNIQUE (job_id, step)
);
CREATE TABLE IF NOT EXISTS tasks (
  id TEXT PRIMARY KEY, kind TEXT NOT NULL, title TEXT NOT NULL, args TEXT NOT NULL, settings TEXT NOT NULL,
  status TEXT NOT NULL, created_at REAL NOT NULL, started_at REAL, finished_at REAL, worker_pid INTEGER,
  pid INTEGER, run TEXT, error TEXT, result TEXT, cancel_requested INTEGER NOT NULL DEFAULT 0, heartbeat REAL,
  lease TEXT, worker_id TEXT, not_before REAL
);
CREATE TABLE IF NOT EXISTS api_keys (
  sha256 TEXT PRIMARY KEY, name TEXT NOT NULL, created_at INTEGER NOT NULL
);
"""


# columns added since the first release, for stores made before them: (table, column, type)
_ADDED = (
    ("tasks", "heartbeat", "REAL"),
    ("jobs", "lease", "TEXT"),
    ("tasks", "lease", "TEXT"),
    ("jobs", "worker_id", "TEXT"),
    ("tasks", "worker_id", "TEXT"),
    ("jobs", "not_before", "REAL"),
    ("tasks", "not_before", "REAL"),
)


class StoreUnavailable(ConfigError):
    """The job store's database cannot be reached (PostgreSQL down, the network between): the API answers 503
    and a worker retries, where a broken connection used to end the worker."""

    http_status = 503


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


def _postgres_schema() -> str:
    """The same tables in PostgreSQL's types; `seq` orders rows where SQLite uses its rowid."""
    schema = _SCHEMA.replace("seq INTEGER PRIMARY KEY AUTOINCREMENT", "seq BIGSERIAL PRIMARY KEY")
    schema = schema.replace(" REAL", " DOUBLE PRECISION").replace(" INTEGER", " BIGINT")
    schema = schema.replace("CREATE TABLE IF NOT EXISTS jobs (", "CREATE TABLE IF NOT EXISTS jobs (\n  seq BIGSERIAL,")
    return schema.replace("CREATE TABLE IF NOT EXISTS tasks (", "CREATE TABLE IF NOT EXISTS tasks (\n  seq BIGSERIAL,")


class JobStore:
    def __init__(self, folder: Path, url: str | None = None, *, stale_s: float = 60.0) -> None:
        self.folder = folder
        self.stale_s = stale_s
        self.files_dir = folder / "files"
        self.files_dir.mkdir(parents=True, exist_ok=True)
        self.url = url
        self.postgres = url is not None
        self.path = folder / "state.db" if url is None else _redacted(url)
        self._local = threading.local()
        if self.postgres:
            with self._tx() as db:
                db.execute("SELECT pg_advisory_xact_lock(7412)")  # workers starting together create tables once
                for statement in _postgres_schema().split(";"):
                    if statement.strip():
                        db.execute(statement)
                for table, column, kind in _ADDED:
                    kind = kind.replace("REAL", "DOUBLE PRECISION")
                    db.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}")
        else:
            self._db().executescript(_SCHEMA)  # idempotent; executescript manages its own transaction
            for table, column, kind in _ADDED:
                if column not in {row["name"] for row in self._db().execute(f"PRAGMA table_info({table})")}:
                    self._db().execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def _db(self) -> Any:
        db = getattr(self._local, "db", None)
        if db is None or (self.postgres and db.lost):  # a connection that broke is replaced on next use
            db = self._connect_postgres() if self.postgres else self._connect_sqlite()
            self._local.db = db
        return db

    def _connect_sqlite(self) -> sqlite3.Connection:
        # one connection per thread; WAL lets the worker write while the API reads
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=True)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=30000")
        return db

    def _connect_postgres(self) -> Any:
        from tunesmith.core.deps import require

        psycopg = require("psycopg", purpose="the PostgreSQL job store")
        try:
            # a silent network (a partition, a server gone without a reset) fails a statement within half the
            # heartbeat's limit rather than the kernel's ~15 minutes of retransmissions, so a worker that cannot
            # beat learns it before another takes its job; settings in the URL win
            given = psycopg.conninfo.conninfo_to_dict(self.url or "")
            bounds = {
                "connect_timeout": 10,
                "keepalives": 1,
                "keepalives_idle": 10,
                "keepalives_interval": 5,
                "keepalives_count": 3,
                "tcp_user_timeout": max(1000, int(self.stale_s * 500)),
            }
            extra = {k: v for k, v in bounds.items() if k not in given}
            connection = psycopg.connect(self.url, autocommit=True, row_factory=psycopg.rows.dict_row, **extra)
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(
                f"cannot reach the job store's PostgreSQL at {_redacted(self.url or '')}: {str(exc).strip()[:300]}",
                where="serve.jobs_url_env",
                fix="Check the URL in the variable serve.jobs_url_env names, and that the server accepts connections.",
            ) from None
        return _PostgresConnection(connection, self.path)

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        db = self._db()
        if self.postgres:
            with db.transaction():
                yield db
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # -- files ----------------------------------------------------------------------------
    def file_path(self, file_id: str) -> Path:
        if not FILE_ID.fullmatch(file_id):
            raise KeyError(file_id)
        return self.files_dir / file_id

    def add_file(self, filename: str, purpose: str, content: bytes | BinaryIO) -> dict[str, Any]:
        """Store a file (bytes, or a readable file copied in chunks) and then record it: a file is listed only
        once it is whole on disk, and a crash in between leaves at most a `.part` file, never a row."""
        import shutil

        file_id = new_id("file")
        target = self.file_path(file_id)
        partial = target.with_suffix(".part")
        if isinstance(content, bytes):
            partial.write_bytes(content)
        else:
            with partial.open("wb") as out:
                shutil.copyfileobj(content, out, 1024 * 1024)
        size = partial.stat().st_size
        partial.replace(target)
        now = int(time.time())
        with self._tx() as db:
            db.execute(
                "INSERT INTO files (id, filename, purpose, bytes, created_at) VALUES (?, ?, ?, ?, ?)",
                (file_id, filename, purpose, size, now),
            )
        return self.get_file(file_id)  # type: ignore[return-value]

    def get_file(self, file_id: str) -> dict[str, Any] | None:
        if not FILE_ID.fullmatch(file_id):
            return None
        row = self._db().execute("SELECT * FROM files WHERE id = ? AND deleted = 0", (file_id,)).fetchone()
        return dict(row) if row else None

    def list_files(self, purpose: str | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM files WHERE deleted = 0", []
        if purpose:
            sql += " AND purpose = ?"
            args.append(purpose)
        return [dict(r) for r in self._db().execute(sql + " ORDER BY created_at DESC, id", args)]

    def delete_file(self, file_id: str) -> bool:
        if self.get_file(file_id) is None:
            return False
        with self._tx() as db:
            db.execute("UPDATE files SET deleted = 1 WHERE id = ?", (file_id,))
        self.file_path(file_id).unlink(missing_ok=True)
        return True

    # -- jobs -----------------------------------------------------------------------------
    def create_job(self, **fields: Any) -> dict[str, Any]:
        job_id = new_id("ftjob")
        now = int(time.time())
        with self._tx() as db:
            db.execute(
                "INSERT INTO jobs (id, model, training_file, validation_file, method, hyperparameters, suffix, seed, "
                "metadata, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'validating_files', ?)",
                (
                    job_id,
                    fields["model"],
                    fields["training_file"],
                    fields.get("validation_file"),
                    json.dumps(fields["method"]),
                    json.dumps(fields["hyperparameters"]),
                    fields.get("suffix"),
                    fields["seed"],
                    json.dumps(fields.get("metadata")) if fields.get("metadata") is not None else None,
                    now,
                ),
            )
        self.add_event(job_id, f"Created fine-tuning job: {job_id}")
        return self.get_job(job_id)  # type: ignore[return-value]

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        if not JOB_ID.fullmatch(job_id):
            return None
        row = self._db().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row else None

    def list_jobs(self, *, after: str | None = None, limit: int = 20) -> tuple[list[dict[str, Any]], bool]:
        """Newest first; ``after`` pages toward older jobs. One page is read, not every job (a server's store
        keeps them all)."""
        sql, params = "SELECT * FROM jobs", []
        if after:
            mark = self._db().execute("SELECT created_at, rowid AS n FROM jobs WHERE id = ?", (after,)).fetchone()
            if mark is None:
                return [], False
            sql += " WHERE created_at < ? OR (created_at = ? AND rowid < ?)"
            params = [mark["created_at"], mark["created_at"], mark["n"]]
        rows = self._db().execute(sql + " ORDER BY created_at DESC, rowid DESC LIMIT ?", (*params, limit + 1))
        jobs = [_job(r) for r in rows]
        return jobs[:limit], len(jobs) > limit

    def reported_steps(self, job_id: str) -> set[int]:
        """Steps whose training loss has an event already."""
        rows = self._db().execute("SELECT data FROM events WHERE job_id = ? AND type = 'metrics'", (job_id,))
        steps = set()
        for row in rows:
            value = json.loads(row["data"] or "{}")
            if "train_loss" in value and isinstance(value.get("step"), int):
                steps.add(value["step"])
        return steps

    def update_job(self, job_id: str, *, holder: str | None = None, **fields: Any) -> bool:
        """Set ``fields``; with ``holder`` (a worker's lease) only while that lease still holds the job. Whether
        the row changed."""
        encoded = {
            k: json.dumps(v) if k in ("error", "result_files") and v is not None else v for k, v in fields.items()
        }
        return self._update("jobs", job_id, holder, encoded)

    def _update(self, table: str, row_id: str, holder: str | None, encoded: dict[str, Any]) -> bool:
        sets = ", ".join(f"{k} = ?" for k in encoded)
        where, params = "id = ?", [*encoded.values(), row_id]
        if holder is not None:
            where, params = where + " AND lease = ?", [*params, holder]
        with self._tx() as db:
            return db.execute(f"UPDATE {table} SET {sets} WHERE {where}", params).rowcount == 1

    def request_cancel(self, job_id: str) -> dict[str, Any] | None:
        """Queued jobs are cancelled at once; a running one is stopped by its worker within seconds."""
        with self._tx() as db:
            row = db.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            if row["status"] in ("validating_files", "queued"):
                db.execute(
                    "UPDATE jobs SET status = 'cancelled', cancel_requested = 1, finished_at = ? WHERE id = ?",
                    (int(time.time()), job_id),
                )
            elif row["status"] == "running":
                db.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
        if row["status"] in ("validating_files", "queued"):
            self.add_event(job_id, "Job cancelled")
        return self.get_job(job_id)

    def claim(self, statuses: tuple[str, ...], pid: int, identity: str | None = None) -> dict[str, Any] | None:
        """Atomically take the oldest job in one of ``statuses`` for this worker (``identity``: its
        `process_identity`); its ``lease`` is the holder every later update of the worker names."""
        marks = ", ".join("?" for _ in statuses)
        lease = secrets.token_hex(8)
        with self._tx() as db:
            row = db.execute(
                f"SELECT id FROM jobs WHERE status IN ({marks}) AND worker_pid IS NULL AND {_DUE} "
                f"ORDER BY created_at, rowid LIMIT 1{self._skip_locked}",
                (*statuses, time.time()),
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET worker_pid = ?, heartbeat = ?, attempts = attempts + 1, lease = ?, worker_id = ? "
                "WHERE id = ?",
                (pid, time.time(), lease, identity, row["id"]),
            )
        return self.get_job(row["id"])

    @property
    def _skip_locked(self) -> str:
        """PostgreSQL: a row another worker is claiming is passed over, not waited for (SQLite's claims are
        serialized by BEGIN IMMEDIATE)."""
        return " FOR UPDATE SKIP LOCKED" if self.postgres else ""

    def _dead(self, row: Any, alive: Any) -> bool:
        """Whether the worker holding a row died: its process is gone (SQLite: one machine; a pid now naming
        another process counts as gone), or its heartbeat stopped (PostgreSQL: workers on several machines,
        where a process id says nothing)."""
        if self.postgres:
            return row["heartbeat"] is None or time.time() - float(row["heartbeat"]) > self.stale_s
        pid = int(row["worker_pid"])
        if not alive(pid):
            return True
        from tunesmith.core.rundir import process_identity

        return row["worker_id"] is not None and process_identity(pid) != row["worker_id"]

    def release_orphans(self, alive: Any) -> list[str]:
        """Jobs left `running` or `validating_files` by a worker that died: back in line for a worker."""
        orphans = []
        for row in (
            self._db()
            .execute(
                "SELECT id, worker_pid, heartbeat, lease, worker_id FROM jobs "
                "WHERE status IN ('running', 'validating_files') AND worker_pid IS NOT NULL"
            )
            .fetchall()
        ):
            if self._dead(row, alive):
                orphans.append((row["id"], row["lease"]))
        released = []
        for job_id, lease in orphans:
            # only the lease found silent: a beat since the check keeps the job with its worker
            if self._release("jobs", job_id, lease):
                released.append(job_id)
        return released

    def defer(self, table: str, row_id: str, lease: str, seconds: float, **fields: Any) -> bool:
        """Give a claimed job (``table`` "jobs") or stage job ("tasks") back, with ``fields``, to be claimed again
        no sooner than ``seconds`` from now (or at once when someone asks to cancel it); whether ``lease`` still
        held it. A worker whose job cannot start yet (its run is held by a process elsewhere) takes other
        work meanwhile instead of waiting on it."""
        # a look at a job that could not start is not an attempt at it
        undo = ["attempts = attempts - 1"] if table == "jobs" else []
        sets = ", ".join(
            [
                "worker_pid = NULL",
                "lease = NULL",
                "worker_id = NULL",
                "not_before = ?",
                *undo,
                *(f"{k} = ?" for k in fields),
            ]
        )
        params = [time.time() + seconds, *fields.values(), row_id, lease]
        with self._tx() as db:
            return db.execute(f"UPDATE {table} SET {sets} WHERE id = ? AND lease = ?", params).rowcount == 1

    def _release(self, table: str, row_id: str, lease: str | None, **fields: Any) -> bool:
        """Back in line (no worker, no lease), if ``lease`` still holds the row and, on PostgreSQL, is still
        silent."""
        sets = ", ".join(["worker_pid = NULL", "lease = NULL", "worker_id = NULL", *(f"{k} = ?" for k in fields)])
        where, params = "id = ? AND COALESCE(lease, '') = ?", [*fields.values(), row_id, lease or ""]
        if self.postgres:
            where, params = where + " AND (heartbeat IS NULL OR heartbeat < ?)", [*params, time.time() - self.stale_s]
        with self._tx() as db:
            return db.execute(f"UPDATE {table} SET {sets} WHERE {where}", params).rowcount == 1

    # -- events and checkpoints ------------------------------------------------------------
    def add_event(
        self, job_id: str, message: str, *, level: str = "info", type_: str = "message", data: Any = None
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO events (id, job_id, created_at, level, message, type, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    new_id("ftevent"),
                    job_id,
                    int(time.time()),
                    level,
                    message,
                    type_,
                    json.dumps(data) if data is not None else None,
                ),
            )

    def events(self, job_id: str, *, after: str | None = None, limit: int = 20) -> tuple[list[dict[str, Any]], bool]:
        """Newest first, as OpenAI lists them; ``after`` pages toward older events. One page is read: a long job
        has an event per step (100,000 events: 0.5 s a call when every one was read, for a client polling each
        second)."""
        sql, params = "SELECT * FROM events WHERE job_id = ?", [job_id]
        if after:
            mark = self._db().execute("SELECT seq FROM events WHERE id = ? AND job_id = ?", (after, job_id)).fetchone()
            if mark is None:
                return [], False
            sql, params = sql + " AND seq < ?", [*params, mark["seq"]]
        rows = [dict(r) for r in self._db().execute(sql + " ORDER BY seq DESC LIMIT ?", (*params, limit + 1))]
        for r in rows:
            r["data"] = json.loads(r["data"]) if r["data"] else None
        return rows[:limit], len(rows) > limit

    def add_checkpoint(self, job_id: str, step: int, metrics: dict[str, Any], path: str) -> bool:
        with self._tx() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO checkpoints (id, job_id, step, created_at, metrics, path) VALUES (?, ?, ?, ?, ?, ?)",
                (new_id("ftckpt"), job_id, step, int(time.time()), json.dumps(metrics), path),
            )
        return cursor.rowcount > 0

    def has_checkpoint(self, job_id: str, step: int) -> bool:
        query = "SELECT 1 FROM checkpoints WHERE job_id = ? AND step = ?"
        return self._db().execute(query, (job_id, step)).fetchone() is not None

    def checkpoints(self, job_id: str) -> list[dict[str, Any]]:
        rows = [
            dict(r)
            for r in self._db().execute("SELECT * FROM checkpoints WHERE job_id = ? ORDER BY step DESC", (job_id,))
        ]
        for r in rows:
            r["metrics"] = json.loads(r["metrics"])
        return rows

    # -- stage jobs -------------------------------------------------------------------------
    def create_task(self, kind: str, title: str, args: list[str], settings: dict[str, Any]) -> dict[str, Any]:
        task_id = new_id("task")
        with self._tx() as db:
            db.execute(
                "INSERT INTO tasks (id, kind, title, args, settings, status, created_at) VALUES (?, ?, ?, ?, ?, 'queued', ?)",
                (task_id, kind, title, json.dumps(args), json.dumps(settings), time.time()),
            )
        return self.get_task(task_id)  # type: ignore[return-value]

    def get_task(self, task_id: str) -> dict[str, Any] | None:
        if not TASK_ID.fullmatch(task_id):
            return None
        row = self._db().execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return _task(row) if row else None

    def list_tasks(self, limit: int = 50) -> list[dict[str, Any]]:
        query = "SELECT * FROM tasks ORDER BY created_at DESC, rowid DESC LIMIT ?"
        return [_task(r) for r in self._db().execute(query, (limit,))]

    def update_task(self, task_id: str, *, holder: str | None = None, **fields: Any) -> bool:
        """As `update_job`, for a stage job."""
        encoded = {k: json.dumps(v) if k in ("result", "args") and v is not None else v for k, v in fields.items()}
        return self._update("tasks", task_id, holder, encoded)

    def claim_task(self, pid: int, identity: str | None = None) -> dict[str, Any] | None:
        with self._tx() as db:
            row = db.execute(
                f"SELECT id FROM tasks WHERE status = 'queued' AND worker_pid IS NULL AND {_DUE} "
                f"ORDER BY created_at, rowid LIMIT 1{self._skip_locked}",
                (time.time(),),
            ).fetchone()
            if row is None:
                return None
            now = time.time()
            db.execute(
                "UPDATE tasks SET worker_pid = ?, status = 'running', started_at = ?, heartbeat = ?, lease = ?, "
                "worker_id = ? WHERE id = ?",
                (pid, now, now, secrets.token_hex(8), identity, row["id"]),
            )
        return self.get_task(row["id"])

    def cancel_task(self, task_id: str) -> dict[str, Any] | None:
        """A queued job is cancelled at once; a running one is stopped by its worker within a second."""
        with self._tx() as db:
            db.execute(
                "UPDATE tasks SET status = 'cancelled', finished_at = ? WHERE id = ? AND status = 'queued'",
                (time.time(), task_id),
            )
            db.execute("UPDATE tasks SET cancel_requested = 1 WHERE id = ? AND status = 'running'", (task_id,))
        return self.get_task(task_id)

    def orphan_tasks(self, alive: Any) -> list[dict[str, Any]]:
        """Running stage jobs whose worker died."""
        rows = self._db().execute("SELECT * FROM tasks WHERE status = 'running' AND worker_pid IS NOT NULL").fetchall()
        return [_task(r) for r in rows if self._dead(r, alive)]

    def requeue_task(self, task: dict[str, Any], **fields: Any) -> bool:
        """An orphan stage job (from `orphan_tasks`) back in line with ``fields``, unless its worker beat since."""
        encoded = {k: json.dumps(v) if k == "args" else v for k, v in fields.items()}
        return self._release("tasks", task["id"], task.get("lease"), **encoded)

    # -- API keys (only their SHA-256 is stored) ----------------------------------------------
    def add_key(self, name: str) -> str:
        import hashlib

        key = "ts-" + secrets.token_urlsafe(32)
        with self._tx() as db:
            db.execute(
                "INSERT INTO api_keys (sha256, name, created_at) VALUES (?, ?, ?)",
                (hashlib.sha256(key.encode()).hexdigest(), name, int(time.time())),
            )
        return key

    def key_hashes(self) -> set[str]:
        return {r["sha256"] for r in self._db().execute("SELECT sha256 FROM api_keys")}


# a row given back by `defer` waits out its time, unless a cancel asks for a worker to end it now
_DUE = "(not_before IS NULL OR not_before <= ? OR cancel_requested = 1)"


def _job(row: Any) -> dict[str, Any]:
    job = dict(row)
    job.pop("seq", None)
    for key in ("method", "hyperparameters", "metadata", "error", "result_files"):
        if job.get(key) is not None:
            job[key] = json.loads(job[key])
    return job


def _task(row: Any) -> dict[str, Any]:
    task = dict(row)
    task.pop("seq", None)
    for key in ("args", "settings", "result"):
        if task.get(key) is not None:
            task[key] = json.loads(task[key])
    task["cancel_requested"] = bool(task["cancel_requested"])
    return task


class _PostgresConnection:
    """A psycopg connection that takes the store's SQLite-flavoured statements: `?` marks, `INSERT OR IGNORE`,
    `rowid` (the `seq` column here). A statement that breaks the connection raises `StoreUnavailable`."""

    def __init__(self, connection: Any, where: str) -> None:
        self.connection = connection
        self.where = where

    @property
    def lost(self) -> bool:
        return bool(self.connection.closed or self.connection.broken)

    def execute(self, sql: str, params: Any = ()) -> Any:
        sql = sql.replace("?", "%s").replace("rowid", "seq")
        if sql.startswith("INSERT OR IGNORE"):
            sql = sql.replace("INSERT OR IGNORE", "INSERT", 1) + " ON CONFLICT DO NOTHING"
        with self._unavailable_if_lost():
            return self.connection.execute(sql, params)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._unavailable_if_lost(), self.connection.transaction():
            yield

    @contextmanager
    def _unavailable_if_lost(self) -> Iterator[None]:
        import psycopg

        try:
            yield
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            if not self.lost:  # a statement's own failure (a deadlock, a timeout): the caller's to handle
                raise
            raise StoreUnavailable(
                f"lost the connection to the job store's PostgreSQL at {self.where}: {str(exc).strip()[:300]}",
                where="serve.jobs_url_env",
                fix="Check that the database is up and reachable; the next request connects again.",
            ) from None


def _redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def open_store(folder: Path, jobs_url_env: str | None, stale_s: float = 60.0) -> JobStore:
    """The project's job store: SQLite in ``folder``, or PostgreSQL at the URL the named variable holds."""
    import os

    from tunesmith.core.errors import ConfigError

    if not jobs_url_env:
        return JobStore(folder)
    url = os.environ.get(jobs_url_env, "").strip()
    if not url:
        raise ConfigError(
            f"serve.jobs_url_env names the variable {jobs_url_env}, which is not set",
            where="serve.jobs_url_env",
            fix=f"export {jobs_url_env}=postgresql://user:password@host:5432/db, or remove serve.jobs_url_env.",
        )
    return JobStore(folder, url, stale_s=stale_s)
