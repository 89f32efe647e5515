"""Benchmark: what watching long jobs costs the server, the worker and the workbench.

Clients poll a running job every second or so (the `openai` client's events, the workbench's job page) and
the worker looks at its training run four times a second. Each read below is timed the way tunesmith does
it and the obvious way beside it, on the same data in one process, and both must give the same answer:

- a job's events, one page (`GET .../events?limit=20`): a keyset query against reading every event of the
  job and slicing the page out; the same for the job list;
- the new lines of a run's metrics.jsonl (the worker's look): read from where the last look ended against
  parsing the whole file;
- the last 60 lines of a job's log (the job page): read from the end against reading it whole;
- a run by its id (the job page, the worker): at the folder its id names against walking every run; and
  listing every run: walking run folders and their stage runs against `rglob` over every file.

    python bench/watching.py [--events 100000] [--jobs 5000] [--steps 100000] [--runs 3000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def median_ms(call: Any, repeat: int) -> float:
    """The median of ``repeat`` calls, in milliseconds (bench/catalog.py times with it too)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 2)


def _pages(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from tunesmith.serve.jobstore import JobStore

    store = JobStore(folder / "store")
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
        # every event of the job, decoded, then the page sliced out (what the store did before)
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

    middle_event, middle_job = f"ftevent-{args.events // 2:024x}", ids[len(ids) // 2]
    same = (
        [e["id"] for e in store.events(job, limit=20)[0]] == events_everything(None)
        and [e["id"] for e in store.events(job, after=middle_event)[0]] == events_everything(middle_event)
        and [j["id"] for j in store.list_jobs(limit=20)[0]] == jobs_everything(None)
        and [j["id"] for j in store.list_jobs(after=middle_job)[0]] == jobs_everything(middle_job)
    )
    r = args.repeat
    return {
        "events_first_page_ms": median_ms(lambda: store.events(job, limit=20), r),
        "events_first_page_ms_reading_all": median_ms(lambda: events_everything(None), r),
        "events_middle_page_ms": median_ms(lambda: store.events(job, after=middle_event, limit=20), r),
        "events_middle_page_ms_reading_all": median_ms(lambda: events_everything(middle_event), r),
        "jobs_first_page_ms": median_ms(lambda: store.list_jobs(limit=20), r),
        "jobs_first_page_ms_reading_all": median_ms(lambda: jobs_everything(None), r),
        "pages_same": same,
    }


def _metrics_and_log(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from tunesmith.core.logtail import last_lines
    from tunesmith.core.rundir import RunDir
    from tunesmith.serve.worker import MetricsTail

    run = RunDir.create(folder / "metrics-runs", "train", {})
    row = {"max_steps": args.steps, "loss": 1.2345, "learning_rate": 1e-4, "grad_norm": 0.5, "time": 12345.6}
    with run.path("metrics.jsonl").open("w") as f:
        for step in range(args.steps):
            f.write(json.dumps({"step": step, **row, "tokens_seen": step * 1000}) + "\n")
    tail = MetricsTail(run)
    tail.read()  # the looks before this one

    def whole_file() -> dict[int, dict[str, Any]]:
        # the whole file parsed and every step's numbers gathered again (what the worker did at each look)
        by_step: dict[int, dict[str, Any]] = {}
        for r in run.metrics():
            if r.get("step") is not None:
                numbers = {k: v for k, v in r.items() if isinstance(v, int | float) and k != "time"}
                by_step.setdefault(int(r["step"]), {}).update(numbers)
        return by_step

    def new_step() -> None:
        with run.path("metrics.jsonl").open("a") as f:
            f.write(json.dumps({"step": args.steps, **row}) + "\n")
        tail.read()

    look_ms = median_ms(new_step, 1)  # a look after one more step, as during training
    same_metrics = tail.by_step == whole_file()

    log = folder / "job.log"
    log.write_text("".join(f"step {i} " + "x" * 90 + "\n" for i in range(args.steps * 5)))
    whole_log = lambda: [s for s in log.read_text(errors="replace").splitlines() if s.strip()][-60:]  # noqa: E731
    return {
        "metrics_steps": args.steps,
        "metrics_look_ms": look_ms,
        "metrics_look_ms_whole_file": median_ms(whole_file, args.repeat),
        "metrics_same": same_metrics,
        "log_mb": round(log.stat().st_size / 1e6, 1),
        "log_tail_ms": median_ms(lambda: last_lines(log, 60), args.repeat),
        "log_tail_ms_whole_file": median_ms(whole_log, args.repeat),
        "log_same": last_lines(log, 60) == whole_log(),
    }


def _runs(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from tunesmith.core.rundir import RUN_FILE, RunDir
    from tunesmith.registry.runs import list_runs, run_by_id

    project = folder / "project"
    studies = max(1, args.runs // 10)
    for _ in range(studies):  # a study and its nine trials, each trial with what training leaves
        study = RunDir.create(project / "runs", "tune", {})
        study.finish()
        for j in range(9):
            trial = RunDir.create(study.root, "train", {}, name=f"trial-{j}")
            trial.finish()
            for k in range(3):
                checkpoint = trial.root / "checkpoints" / f"checkpoint-{k}"
                checkpoint.mkdir(parents=True)
                for name in ("adapter_model.safetensors", "adapter_config.json", "optimizer.pt", "trainer_state.json"):
                    (checkpoint / name).write_bytes(b"")
    target = trial.id

    def walk_all() -> list[RunDir]:
        found = [RunDir(p.parent) for p in (project / "runs").rglob(RUN_FILE)]
        return sorted(found, key=lambda r: (r.info.get("created", ""), str(r.root)))

    def by_walk() -> RunDir:
        return next(r for r in walk_all() if r.id == target)

    found = run_by_id(project, target)
    return {
        "runs": studies * 10,
        "run_by_id_ms": median_ms(lambda: run_by_id(project, target), args.repeat),
        "run_by_id_ms_walking_all": median_ms(by_walk, args.repeat),
        "list_runs_ms": median_ms(lambda: list_runs(project), args.repeat),
        "list_runs_ms_rglob": median_ms(walk_all, args.repeat),
        "runs_same": found is not None
        and found.root == by_walk().root
        and [r.root for r in list_runs(project)] == [r.root for r in walk_all()],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=5_000)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-watching-"))
    result = {**_pages(args, folder), **_metrics_and_log(args, folder), **_runs(args, folder)}
    result["events_speedup"] = round(result["events_first_page_ms_reading_all"] / result["events_first_page_ms"], 1)
    result["metrics_speedup"] = round(result["metrics_look_ms_whole_file"] / max(result["metrics_look_ms"], 0.01), 1)
    result["run_by_id_speedup"] = round(result["run_by_id_ms_walking_all"] / result["run_by_id_ms"], 1)
    result["list_runs_speedup"] = round(result["list_runs_ms_rglob"] / result["list_runs_ms"], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
