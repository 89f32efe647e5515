"""The job store behaves the same on SQLite and PostgreSQL; on PostgreSQL a worker is dead when its
heartbeat stops (process ids mean nothing across machines)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tunesmith.core.errors import ConfigError
from tunesmith.serve.jobstore import JobStore, StoreUnavailable, open_store


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> JobStore:
    url = request.getfixturevalue("jobs_db_url") if request.param == "postgres" else None
    return JobStore(tmp_path / "store", url, stale_s=5)


def _job(store: JobStore) -> dict:
    return store.create_job(
        model="tiny", training_file="file-" + "0" * 24, method={"type": "supervised"}, hyperparameters={}, seed=1
    )


def test_files_jobs_events_checkpoints_tasks_and_keys(store: JobStore) -> None:
    uploaded = store.add_file("train.jsonl", "fine-tune", b'{"a": 1}\n')
    assert store.get_file(uploaded["id"])["bytes"] == 9
    first, second = _job(store), _job(store)
    listed, more = store.list_jobs(limit=1)
    assert [j["id"] for j in listed] == [second["id"]] and more
    store.update_job(first["id"], status="queued", error={"code": "x"})
    assert store.get_job(first["id"])["error"] == {"code": "x"}
    store.add_event(first["id"], "step 1", type_="metrics", data={"step": 1, "train_loss": 2.0})
    assert store.reported_steps(first["id"]) == {1}
    events, _ = store.events(first["id"])
    assert [e["message"] for e in events][:2] == ["step 1", f"Created fine-tuning job: {first['id']}"]
    assert store.add_checkpoint(first["id"], 4, {"loss": 1.0}, "/x")
    assert not store.add_checkpoint(first["id"], 4, {"loss": 1.0}, "/x")  # once per step
    assert [c["step"] for c in store.checkpoints(first["id"])] == [4]
    claimed = store.claim(("queued",), 123)
    assert claimed["id"] == first["id"] and claimed["attempts"] == 1
    assert store.claim(("queued",), 456) is None
    task = store.create_task("kb", "Index", ["kb", "ingest"], {})
    assert store.claim_task(7)["id"] == task["id"] and store.claim_task(8) is None
    key = store.add_key("ci")
    assert len(store.key_hashes()) == 1 and key.startswith("ts-")


def test_a_silent_worker_loses_its_job_and_task(store: JobStore) -> None:
    job = _job(store)
    store.update_job(job["id"], status="queued")
    store.claim(("queued",), 1)
    store.update_job(job["id"], status="running", heartbeat=time.time())
    task = store.create_task("kb", "Index", ["kb", "ingest"], {})
    store.claim_task(1)
    everyone_alive, nobody_alive = (lambda pid: True), (lambda pid: False)
    if store.postgres:
        # a fresh heartbeat keeps the job whatever the process ids; a stale one frees it
        assert store.release_orphans(nobody_alive) == [] and store.orphan_tasks(nobody_alive) == []
        store.update_job(job["id"], heartbeat=time.time() - 60)
        store.update_task(task["id"], heartbeat=time.time() - 60)
        assert store.release_orphans(everyone_alive) == [job["id"]]
        assert [t["id"] for t in store.orphan_tasks(everyone_alive)] == [task["id"]]
    else:
        # one machine: the process is what counts
        assert store.release_orphans(everyone_alive) == []
        assert store.release_orphans(nobody_alive) == [job["id"]]
        assert [t["id"] for t in store.orphan_tasks(nobody_alive)] == [task["id"]]
    assert store.claim(("queued", "running"), 2)["id"] == job["id"]  # another worker takes it


def test_an_unset_or_unreachable_url_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TS_JOBS_URL", raising=False)
    with pytest.raises(ConfigError, match="TS_JOBS_URL, which is not set"):
        open_store(tmp_path, "TS_JOBS_URL")
    monkeypatch.setenv("TS_JOBS_URL", "postgresql://user:secret@127.0.0.1:1/none")
    with pytest.raises(ConfigError) as caught:
        open_store(tmp_path, "TS_JOBS_URL")
    assert "secret" not in caught.value.what and "user:***@" in caught.value.what


def test_a_worker_whose_job_went_back_in_line_can_no_longer_write_it(
    store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = _job(store)
    store.update_job(job["id"], status="queued")
    first = store.claim(("queued",), 1)
    assert first["lease"] and store.update_job(job["id"], holder=first["lease"], status="running")
    # its worker falls silent (PostgreSQL: the heartbeat; SQLite: the process); a second worker claims the job
    store.update_job(job["id"], heartbeat=time.time() - 60)
    assert store.release_orphans(lambda pid: False) == [job["id"]]
    second = store.claim(("running",), 2)
    assert second["id"] == job["id"] and second["lease"] != first["lease"]
    # the first worker, back: neither its heartbeat nor its verdict lands
    assert not store.update_job(job["id"], holder=first["lease"], heartbeat=time.time())
    assert not store.update_job(job["id"], holder=first["lease"], status="failed", worker_pid=None, lease=None)
    now = store.get_job(job["id"])
    assert (now["status"], now["worker_pid"], now["lease"]) == ("running", 2, second["lease"])
    assert store.update_job(job["id"], holder=second["lease"], status="succeeded", worker_pid=None, lease=None)
    if store.postgres:
        # judged silent on a read taken before its last beat: the beat keeps the job with its worker
        job = _job(store)
        store.update_job(job["id"], status="queued")
        claimed = store.claim(("queued",), 3)
        monkeypatch.setattr(store, "_dead", lambda row, alive: True)
        assert store.release_orphans(lambda pid: True) == []
        assert store.get_job(job["id"])["lease"] == claimed["lease"]


def test_a_stage_job_requeued_from_a_silent_worker_is_fenced_the_same_way(store: JobStore) -> None:
    task = store.create_task("train", "Train", ["train", "--json"], {})
    first = store.claim_task(1)
    assert first["lease"] and store.update_task(task["id"], holder=first["lease"], heartbeat=time.time() - 60)
    (orphan,) = store.orphan_tasks(lambda pid: False)
    assert store.requeue_task(orphan, status="queued", args=["train", "--resume"])
    assert not store.requeue_task(orphan, status="queued")  # its lease is gone: once only
    second = store.claim_task(2)
    assert second["args"] == ["train", "--resume"] and second["lease"] not in (None, first["lease"])
    assert not store.update_task(task["id"], holder=first["lease"], status="failed")
    assert store.get_task(task["id"])["status"] == "running"


def test_a_store_made_before_leases_gets_the_column(tmp_path: Path) -> None:
    import sqlite3

    folder = tmp_path / "store"
    folder.mkdir()
    with sqlite3.connect(folder / "state.db") as db:  # the jobs and tasks tables as the first release made them
        db.execute(
            "CREATE TABLE jobs (id TEXT PRIMARY KEY, status TEXT, created_at INTEGER, worker_pid INTEGER, heartbeat REAL)"
        )
        db.execute("CREATE TABLE tasks (id TEXT PRIMARY KEY, status TEXT, worker_pid INTEGER)")
    JobStore(folder)
    with sqlite3.connect(folder / "state.db") as db:
        for table in ("jobs", "tasks"):
            columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            assert {"lease", "heartbeat"} <= columns


def test_a_lost_postgres_connection_is_one_clear_error_and_the_next_call_connects_again(
    tmp_path: Path, jobs_db_url: str
) -> None:
    import psycopg

    store = JobStore(tmp_path / "store", jobs_db_url)
    job = _job(store)
    with psycopg.connect(jobs_db_url, autocommit=True) as admin:  # the database restarted, a proxy cut it
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    with pytest.raises(StoreUnavailable, match="lost the connection to the job store") as caught:
        store.get_job(job["id"])
    assert caught.value.http_status == 503
    assert store.get_job(job["id"])["id"] == job["id"]  # a new connection, no restart of the process


def test_jobs_and_events_page_newest_first_without_gaps_or_repeats(store: JobStore) -> None:
    made = [_job(store)["id"] for _ in range(7)]  # several within one second: created_at ties
    for i in range(45):
        store.add_event(made[0], f"Step {i}", type_="metrics", data={"step": i})

    def pages(fetch, limit):  # type: ignore[no-untyped-def]
        seen, after = [], None
        while True:
            rows, more = fetch(after=after, limit=limit)
            seen += [r["id"] for r in rows]
            if not more:
                return seen
            after = rows[-1]["id"]

    assert pages(store.list_jobs, 3) == made[::-1]
    events = pages(lambda **kw: store.events(made[0], **kw), 20)
    messages = {e["id"]: e["message"] for e in store.events(made[0], limit=1000)[0]}
    assert [messages[e] for e in events] == [f"Step {i}" for i in range(44, -1, -1)] + [
        f"Created fine-tuning job: {made[0]}"
    ]
    assert store.events(made[0], after="ftevent-unknown") == ([], False)
    assert [j["id"] for j in store.list_jobs(after=made[1])[0]] == [made[0]]
    assert store.events(made[1], after=events[0]) == ([], False)  # another job's event is no page mark here


def test_a_pid_reused_after_a_restart_does_not_keep_a_dead_workers_job(tmp_path: Path) -> None:
    """SQLite (one machine): a container restarted mid-job gives its new worker, or another process, the pid its
    old worker had; the job must still go back in line."""
    import os

    from tunesmith.core.rundir import pid_alive, process_identity

    store = JobStore(tmp_path / "store")
    me = os.getpid()
    old, current = _job(store), _job(store)
    for job in (old, current):
        store.update_job(job["id"], status="queued")
    store.claim(("queued",), me, f"{me}:1")  # the worker before the restart, under the pid this process has now
    store.claim(("queued",), me, process_identity(me))  # this very process
    for job in (old, current):
        store.update_job(job["id"], status="running")
    task = store.create_task("kb", "Index", ["kb", "ingest"], {})
    store.claim_task(me, f"{me}:1")
    assert store.release_orphans(pid_alive) == [old["id"]]
    assert [t["id"] for t in store.orphan_tasks(pid_alive)] == [task["id"]]
    assert store.get_job(current["id"])["worker_pid"] == me
