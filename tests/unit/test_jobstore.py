"""The job store behaves the same on SQLite and PostgreSQL; on PostgreSQL a worker is dead when its
heartbeat stops (process ids mean nothing across machines)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tunesmith.core.errors import ConfigError
from tunesmith.serve.jobstore import JobStore, open_store


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
