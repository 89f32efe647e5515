"""A job whose run another process still holds (the training child of a worker elsewhere that lost the job and
has not stopped it yet) waits without holding up its worker: the job goes back in line for a moment and the
worker takes the jobs queued behind it. The worker used to wait on such a run, taking nothing else; if the other
worker stayed frozen its child trained on to the end, and every job queued behind waited for all of it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tunesmith.registry.runs import runs_root
from tunesmith.serve.jobstore import JobStore
from tunesmith.serve.worker import Worker, task_paths

# a training run's process elsewhere: it holds the run until told to finish, then leaves it succeeded
HOLDER = """
import sys
from pathlib import Path
from tunesmith.core.rundir import RunDir

run = RunDir.create(Path(sys.argv[1]), "train", {}, name="20260101-000000-train")
with run.running() as outcome:
    print(run.id, flush=True)
    sys.stdin.readline()
    run.log_metrics(step=1, loss=1.5, tokens_seen=42)
    outcome.summary = {"recipe": "sft-lora"}
"""


def _held_run(project: Path) -> tuple[subprocess.Popen[str], str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(runs_root(project))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    return holder, holder.stdout.readline().strip()


def _taken_over_job(store: JobStore, run_id: str) -> str:
    """A job back in line from a worker that fell silent, its run still in that worker's child's hands."""
    job = store.create_job(model="m", training_file="file-0", method={"type": "supervised"}, hyperparameters={}, seed=1)
    store.update_job(job["id"], status="running", train_run=run_id, started_at=int(time.time()))
    return str(job["id"])


def _waiting_events(store: JobStore, job_id: str) -> list[str]:
    return [e["message"] for e in store.events(job_id, limit=100)[0] if e["message"].startswith("Waiting for")]


def test_a_job_whose_run_is_held_elsewhere_waits_without_holding_up_the_queue(tmp_path: Path) -> None:
    (tmp_path / "tunesmith.yaml").write_text("name: held\nsystem_prompt: You help.\n")
    store = JobStore(tmp_path / ".tunesmith" / "serve")
    holder, run_id = _held_run(tmp_path)
    try:
        job_id = _taken_over_job(store, run_id)
        behind = store.create_task("gate", "Gate", ["gate", "--json"], {})  # queued after the job
        worker = Worker(tmp_path, store, recheck_s=30)

        assert worker.step()  # takes the job, finds its run held, gives it back for a while
        job = store.get_job(job_id)
        assert (job["status"], job["worker_pid"], job["lease"]) == ("running", None, None)
        assert job["not_before"] > time.time() + 20 and job["attempts"] == 0  # a look, not an attempt
        (said,) = _waiting_events(store, job_id)
        assert run_id in said and str(holder.pid) in said

        assert worker.step()  # meanwhile the stage job queued behind it runs
        done = store.get_task(behind["id"])
        assert done["status"] == "failed" and "no finished eval run" in done["error"]  # ran, and said why
        assert not worker.step()  # nothing else is due: the job waits out its time
        assert store.get_job(job_id)["worker_pid"] is None

        # its time is up and the run is still held: back in line again, without saying so twice
        store.update_job(job_id, not_before=time.time() - 1)
        assert worker.step()
        assert store.get_job(job_id)["not_before"] > time.time() + 20 and len(_waiting_events(store, job_id)) == 1

        # the process that held the run finishes its training: the next look reports it and the job succeeds
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.wait(30) == 0
        store.update_job(job_id, not_before=time.time() - 1)
        assert worker.step()
        job = store.get_job(job_id)
        assert job["status"] == "succeeded" and job["fine_tuned_model"].startswith("ft:m:")
        assert job["trained_tokens"] == 42 and job["not_before"] is None and job["attempts"] == 1
    finally:
        holder.kill()


def test_a_waiting_job_cancelled_ends_at_once(tmp_path: Path) -> None:
    store = JobStore(tmp_path / ".tunesmith" / "serve")
    holder, run_id = _held_run(tmp_path)
    try:
        job_id = _taken_over_job(store, run_id)
        worker = Worker(tmp_path, store, recheck_s=3600)
        assert worker.step() and store.get_job(job_id)["worker_pid"] is None  # waiting for its run
        store.request_cancel(job_id)
        assert worker.step()  # a cancel does not wait out the hour
        job = store.get_job(job_id)
        assert (job["status"], job["lease"]) == ("cancelled", None)
        assert any("cancelled" in e["message"] for e in store.events(job_id, limit=100)[0])
        assert holder.poll() is None  # the run's own process is its worker's to stop, not this one's
    finally:
        holder.kill()


def test_a_stage_job_resuming_a_held_run_waits_in_line_too(tmp_path: Path) -> None:
    store = JobStore(tmp_path / ".tunesmith" / "serve")
    holder, run_id = _held_run(tmp_path)
    try:
        # the web UI's training job, requeued from a dead worker to resume its run
        task = store.create_task("train", "Train", ["train", "--resume", "--run", run_id, "--json"], {})
        store.update_task(task["id"], run=run_id)
        worker = Worker(tmp_path, store, recheck_s=3600)
        assert worker.step() and not worker.step()  # given back, and not taken again before its time
        back = store.get_task(task["id"])
        assert (back["status"], back["worker_pid"], back["lease"]) == ("queued", None, None)
        assert back["started_at"] is None  # waiting in line is not having started (the Jobs page shows when it did)
        assert back["not_before"] > time.time() + 3000 and back["args"][:2] == ["train", "--resume"]
        log, _ = task_paths(store, task["id"])
        assert f"Waiting for {run_id} to stop" in log.read_text()
        assert store.cancel_task(task["id"])["status"] == "cancelled"  # queued: cancelled at once
        assert not worker.step()
    finally:
        holder.kill()
