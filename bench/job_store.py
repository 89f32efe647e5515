"""Benchmark: reading one page of a long fine-tuning job's events, and of a server's job list.

A job has an event per reported step, and clients (the `openai` client, dashboards) poll
`GET /v1/fine_tuning/jobs/{id}/events?limit=20` every second or so. The store reads one page with a
keyset query (`seq < the after mark ... LIMIT n+1`); the obvious way, reading every event of the job
in order and slicing the page out in Python, is timed beside it on the same database, and both must
return the same pages. The same for the job list.

    python bench/job_store.py [--events 100000] [--jobs 5000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def _median_ms(call: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from tunesmith.serve.jobstore import JobStore

    store = JobStore(Path(tempfile.mkdtemp(prefix="bench-jobstore-")))
    method = {"type": "supervised"}
    ids = [
        store.create_job(model="m", training_file="file-" + "0" * 24, method=method, hyperparameters={}, seed=1)["id"]
        for _ in range(args.jobs)
    ]
    job = ids[0]
    with store._tx() as db:  # one transaction: the setup, not the measurement
        for i in range(args.events):
            db.execute(
                "INSERT INTO events (id, job_id, created_at, level, message, type, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (f"ftevent-{i:024x}", job, 0, "info", f"Step {i}", "metrics", json.dumps({"step": i, "loss": 1.0})),
            )

    def events_everything(after: str | None, limit: int = 20) -> list[str]:
        # what the store did before: every event of the job, decoded, then the page sliced out
        rows = [dict(r) for r in store._db().execute("SELECT * FROM events WHERE job_id = ? ORDER BY seq DESC", (job,))]
        if after:
            names = [r["id"] for r in rows]
            rows = rows[names.index(after) + 1 :]
        for r in rows:
            r["data"] = json.loads(r["data"]) if r["data"] else None
        return [r["id"] for r in rows[:limit]]

    def jobs_everything(after: str | None, limit: int = 20) -> list[str]:
        rows = [dict(r) for r in store._db().execute("SELECT * FROM jobs ORDER BY created_at DESC, rowid DESC")]
        if after:
            names = [r["id"] for r in rows]
            rows = rows[names.index(after) + 1 :]
        return [r["id"] for r in rows[:limit]]

    first_page = [e["id"] for e in store.events(job, limit=20)[0]]
    deep_mark = f"ftevent-{args.events // 2:024x}"
    jobs_page = [j["id"] for j in store.list_jobs(limit=20)[0]]
    same = (
        first_page == events_everything(None)
        and [e["id"] for e in store.events(job, after=deep_mark)[0]] == events_everything(deep_mark)
        and jobs_page == jobs_everything(None)
        and [j["id"] for j in store.list_jobs(after=ids[len(ids) // 2])[0]] == jobs_everything(ids[len(ids) // 2])
    )
    result = {
        "events": args.events,
        "jobs": args.jobs,
        "events_first_page_ms": _median_ms(lambda: store.events(job, limit=20), args.repeat),
        "events_first_page_ms_reading_all": _median_ms(lambda: events_everything(None), args.repeat),
        "events_middle_page_ms": _median_ms(lambda: store.events(job, after=deep_mark, limit=20), args.repeat),
        "events_middle_page_ms_reading_all": _median_ms(lambda: events_everything(deep_mark), args.repeat),
        "jobs_first_page_ms": _median_ms(lambda: store.list_jobs(limit=20), args.repeat),
        "jobs_first_page_ms_reading_all": _median_ms(lambda: jobs_everything(None), args.repeat),
        "same_pages": same,
    }
    result["events_speedup"] = round(result["events_first_page_ms_reading_all"] / result["events_first_page_ms"], 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
