"""The fine-tuning job worker: its own process, driven by the job store.

It validates a job's files (`validating_files` -> `queued`, or `failed` with the
file and the first problems by line), turns them into a data run, and trains
with `tunesmith train` in a child process (`running`). While the child runs it
turns new metrics into events and new complete checkpoints into checkpoint
records, and stops the child within a second of a cancel. On success the job
gets its model id, `ft:BASE:SUFFIX:ID`, which the API serves at once.

A worker that dies leaves its job `running` with a dead pid; the next worker
resumes it from the run's last complete checkpoint (`tunesmith train --resume`).
The training child dies with its worker (PR_SET_PDEATHSIG), so a job is never
trained twice at once. A worker that was only late (frozen, or cut off from a
PostgreSQL store past `serve.worker_stale_s`) finds its lease gone at its next
heartbeat and stops its child without touching the job; the worker that took the
job over gives it back for a moment while that child still holds the run (taking
other jobs meanwhile), and resumes it once the run is free.
A store out of reach stops the child (no training without a heartbeat) and the
worker retries, backing off, instead of ending.

It also runs the web UI's stage jobs (train, eval, tune, gate, data build, kb
ingest): the same `tunesmith` command a user would type, in a child process
whose bars report to a progress file, stopped on cancel like a training job.
"""

from __future__ import annotations

import csv
import ctypes
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.core.atomic import atomic_write_json
from tunesmith.core.errors import ConfigError
from tunesmith.core.jsonl import write_jsonl
from tunesmith.core.logtail import last_lines
from tunesmith.core.progress import console
from tunesmith.core.rundir import RunDir, pid_alive, process_identity
from tunesmith.data.formats.openai import chat_json, preference_json
from tunesmith.data.formats.read import read_items
from tunesmith.registry.runs import run_by_id, runs_root, runs_since
from tunesmith.serve.job_settings import train_settings
from tunesmith.serve.jobstore import JobStore, StoreUnavailable
from tunesmith.serve.openai_schema import fine_tuned_model_id
from tunesmith.train.checkpoints import complete_checkpoints

MAX_PROBLEMS = 5


class WorkerMisplaced(ConfigError):
    """The worker runs beside a project folder other than the one its job store's jobs were made in."""


def _die_with_parent() -> None:
    """Linux: the training child gets SIGKILL when its worker dies (no orphaned trainings)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    os.setsid()


def _stop(child: subprocess.Popen) -> None:  # type: ignore[type-arg]
    """SIGTERM to the child's process group (it leaves like Ctrl-C), SIGKILL if it has not left in 10 s."""
    os.killpg(child.pid, signal.SIGTERM)
    try:
        child.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()


@dataclass
class Finished:
    pid: int
    returncode: int
    stdout: str
    cancelled: bool


def supervise(
    args: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    log: Path,
    watch: Callable[[int], None],
    cancel_requested: Callable[[], bool],
) -> Finished:
    """Run a `tunesmith` command as a child (it dies with us), its stderr into ``log``; ``watch(pid)`` every
    quarter second while it runs; stop it within a second of ``cancel_requested()``.

    Its stdout (the command's JSON summary) is read on a thread, so a large one cannot block the child.
    """
    with log.open("ab") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-m", "tunesmith", *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env={**os.environ, "NO_COLOR": "1", **env},
            preexec_fn=_die_with_parent,
        )
        chunks: list[bytes] = []
        reader = threading.Thread(target=lambda: chunks.append(child.stdout.read() if child.stdout else b""))
        reader.start()
        cancelled = False
        try:
            while child.poll() is None:
                time.sleep(0.25)
                watch(child.pid)
                if not cancelled and cancel_requested():
                    cancelled = True
                    _stop(child)
        except BaseException:
            # the job store went away (or the worker is leaving): no child trains on without its worker's
            # heartbeat, which would let a second worker take the job while this one still writes its run
            if child.poll() is None:
                _stop(child)
            raise
        finally:
            reader.join()
    return Finished(child.pid, child.returncode, b"".join(chunks).decode(errors="replace"), cancelled)


def task_paths(store: JobStore, task_id: str) -> tuple[Path, Path]:
    """(log file, progress file) of a stage job."""
    logs = store.folder / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    return logs / f"{task_id}.log", logs / f"{task_id}.progress.json"


def validate_file(path: Path, method: str) -> tuple[list[dict[str, Any]], list[str]]:
    """(records in OpenAI format, problems as 'line N: ...')."""
    fmt = "openai-preference" if method == "dpo" else "openai-chat"
    records, problems = [], []
    try:
        items = list(read_items(path, format=fmt))
    except Exception as exc:  # an unusable file: one problem, no records
        return [], [getattr(exc, "what", str(exc))]
    for item in items:
        if item.example is None:
            line = item.where.rsplit(":", 1)[-1]
            problems.append(f"line {line}: {item.code}: {item.message}")
        else:
            records.append(preference_json(item.example) if method == "dpo" else chat_json(item.example))
    if not items:
        problems.append("the file has no examples")
    return records, problems


class Worker:
    def __init__(self, project_dir: Path, store: JobStore, *, poll_s: float = 0.5, recheck_s: float = 2.0) -> None:
        self.project_dir = project_dir
        self.store = store
        self.poll_s = poll_s
        self.recheck_s = recheck_s  # how soon a job whose run another process holds is looked at again
        self.pid = os.getpid()
        self.identity = process_identity(self.pid)

    def run_forever(self) -> None:
        console.print(f"worker {self.pid} watching {self.store.path}")
        delay = 1.0
        while True:
            try:
                worked = self.step()
            except StoreUnavailable as exc:
                # the database is down or out of reach: its jobs are safe there; try again, less often
                console.print(f"worker {self.pid}: {exc.render()} Retrying in {delay:.0f} s.")
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            delay = 1.0
            if not worked:
                time.sleep(self.poll_s)

    def _taken(self, kind: str, item_id: str) -> None:
        """This worker's lease on a job ran out while it still worked (it was frozen, or could not reach the
        store for longer than serve.worker_stale_s): another worker has it now; leave it untouched."""
        console.print(
            f"worker {self.pid}: {kind} {item_id} went to another worker while this one could not report "
            "(a heartbeat later than serve.worker_stale_s); stopped it here"
        )

    def _check_shared(self, table: str, item: dict[str, Any], missing: Path | None) -> None:
        """Raise when a file or run folder the store records is not on this machine: this worker is not in the
        project folder the others share. Its claim goes back first, for a worker that is."""
        if missing is None:
            return
        release = self.store.update_job if table == "jobs" else self.store.update_task
        release(item["id"], holder=item["lease"], worker_pid=None, lease=None)
        raise WorkerMisplaced(
            f"{missing} is not on this machine, though {item['id']} needs it: this worker's project folder is not "
            "the one the server and the other workers use",
            where=str(self.project_dir),
            fix="Run every worker in the same project folder, shared between the machines (NFS, a mounted volume), "
            f"with the same path or `--project` pointing at it. {item['id']} went back in line for another worker.",
        )

    def _held_elsewhere(self, table: str, item: dict[str, Any], run: RunDir, say: Callable[[str], None]) -> bool:
        """Whether another process still works in ``run`` (a worker elsewhere that lost this job and has not
        stopped its child yet). Then the job goes back in line, to be looked at again in `recheck_s`, and this
        worker takes other work meanwhile: that child stops at its worker's next heartbeat, or, if that worker
        stays frozen, trains on to the end, and jobs queued behind this one should not wait for either."""
        release = self.store.update_job if table == "jobs" else self.store.update_task
        if run.status != "running":
            if item.get("not_before") is not None:  # it waited: the next wait is said again
                release(item["id"], holder=item["lease"], not_before=None)
            return False
        if item.get("not_before") is None:  # said once, not at every look
            say(
                f"Waiting for {run.id} to stop: process {run.info.get('pid', '?')} on {run.info.get('host', '?')} "
                "still trains it for a worker that lost this job (its heartbeat was late); it stops at that "
                "worker's next heartbeat, and this job continues then"
            )
        # a stage job back in line has not started: the claim that finds its run free sets when it did
        fields: dict[str, Any] = {"status": "queued", "started_at": None} if table == "tasks" else {}
        if not self.store.defer(table, item["id"], item["lease"], self.recheck_s, **fields):
            self._taken("job" if table == "jobs" else "stage job", item["id"])
        return True

    def step(self) -> bool:
        """Do one piece of work; False when there was none."""
        self.store.release_orphans(pid_alive)
        job = self.store.claim(("validating_files",), self.pid, self.identity)
        if job is not None:
            self.validate(job)
            return True
        job = self.store.claim(("queued", "running"), self.pid, self.identity)
        if job is not None:
            self.train(job)
            return True
        self._requeue_orphan_tasks()
        task = self.store.claim_task(self.pid, self.identity)
        if task is not None:
            self.run_task(task)
            return True
        return False

    # -- stage jobs from the web UI -----------------------------------------------------------------
    def _requeue_orphan_tasks(self) -> None:
        """A training job whose worker died continues from its last checkpoint; other stages start again."""
        for task in self.store.orphan_tasks(pid_alive):
            if task["cancel_requested"]:  # asked to stop while no worker was there to stop it
                self.store.requeue_task(task, status="cancelled", finished_at=time.time())
                continue
            args, run = list(task["args"]), task.get("run")
            if task["kind"] == "train" and run and "--resume" not in args:
                args = ["train", "--resume", "--run", run, "--json"]
            elif "--resume" not in args:
                run = None  # started again: the next attempt reports its own run folder
            self.store.requeue_task(task, status="queued", pid=None, args=args, run=run)

    def run_task(self, task: dict[str, Any]) -> None:
        task_id, lease = task["id"], task["lease"]
        log_path, progress_path = task_paths(self.store, task_id)
        progress_path.unlink(missing_ok=True)
        found: dict[str, str | None] = {"run": task.get("run")}
        held = {"lost": False}

        def update(**fields: Any) -> bool:
            held["lost"] = held["lost"] or not self.store.update_task(task_id, holder=lease, **fields)
            return not held["lost"]

        started = time.time()  # the child's run folder is named after a time no earlier than this

        def watch(pid: int) -> None:
            if update(pid=pid, heartbeat=time.time()) and found["run"] is None:
                found["run"] = self._run_of(task_id, pid, task["kind"], started)
                if found["run"] is not None:
                    update(run=found["run"])

        def cancel_requested() -> bool:
            current = self.store.get_task(task_id)
            return held["lost"] or (current is not None and bool(current["cancel_requested"]))

        resumed = run_by_id(self.project_dir, task["run"]) if task.get("run") else None
        if task.get("run") and "--resume" in task["args"]:
            self._check_shared("tasks", task, None if resumed else runs_root(self.project_dir) / task["run"])
        if resumed is not None and "--resume" in task["args"]:
            if task["cancel_requested"]:  # asked to stop while it waited for its run
                update(status="cancelled", finished_at=time.time(), worker_pid=None, lease=None)
                return
            if self._held_elsewhere("tasks", task, resumed, lambda text: _log(log_path, text)):
                return
        finished = supervise(
            [*task["args"], "--project", str(self.project_dir)],
            cwd=self.project_dir,
            env={"COLUMNS": "160", "TUNESMITH_JOB": task["id"], "TUNESMITH_PROGRESS_FILE": str(progress_path)},
            log=log_path,
            watch=watch,
            cancel_requested=cancel_requested,
        )
        if held["lost"]:
            return self._taken("stage job", task_id)
        run_id = found["run"] or self._run_of(task_id, finished.pid, task["kind"], started)
        result = _last_json(finished.stdout)
        end = {"finished_at": time.time(), "run": run_id, "worker_pid": None, "lease": None}
        if finished.cancelled:
            update(status="cancelled", **end)
            return
        # a gate that ran and said no is a finished job with a verdict, not a failure of the job
        done = finished.returncode == 0 or (task["kind"] == "gate" and result is not None and "passed" in result)
        if done:
            update(status="succeeded", result=result, **end)
            return
        lines = last_lines(log_path, 1)
        reason = lines[-1][-600:] if lines else f"exit code {finished.returncode}"
        update(status="failed", error=reason, result=result, **end)

    def _run_of(self, task_id: str, pid: int, kind: str, since: float) -> str | None:
        """The run folder the stage job's process made: its top-level one (a tune study's trials nest under it)."""
        mine = _runs_of(runs_since(self.project_dir, since), task_id, pid)
        if not mine:
            return None
        same_kind = [r for r in mine if r.stage == kind]
        return (same_kind or mine)[0].id

    # -- validating_files -> queued ---------------------------------------------------------------
    def validate(self, job: dict[str, Any]) -> None:
        method = job["method"]["type"]
        self.store.add_event(job["id"], "Validating training file: " + job["training_file"])
        files = [("training_file", job["training_file"])]
        if job.get("validation_file"):
            files.append(("validation_file", job["validation_file"]))
        loaded: dict[str, list[dict[str, Any]]] = {}
        for param, file_id in files:
            meta = self.store.get_file(file_id)
            if meta is None:
                return self._fail(job, "invalid_file", f"File {file_id} was deleted before validation.", param)
            path = self.store.file_path(file_id)
            self._check_shared("jobs", job, None if path.is_file() else path)
            records, problems = validate_file(path, method)
            if problems:
                shown = "; ".join(problems[:MAX_PROBLEMS])
                more = f" (and {len(problems) - MAX_PROBLEMS} more)" if len(problems) > MAX_PROBLEMS else ""
                kind = "training" if param == "training_file" else "validation"
                return self._fail(
                    job,
                    f"invalid_{kind}_file",
                    f"The {kind} file {file_id} ({meta['filename']}) has {len(problems)} invalid "
                    f"example(s): {shown}{more}. Expected OpenAI "
                    + ("preference (DPO)" if method == "dpo" else "chat")
                    + " format, one JSON object per line.",
                    param,
                )
            loaded[param] = records
        data_run = self._data_run(job, loaded)
        if not self.store.update_job(
            job["id"], holder=job["lease"], status="queued", data_run=data_run.id, worker_pid=None, lease=None
        ):
            return self._taken("job", job["id"])
        self.store.add_event(job["id"], f"Files validated: {len(loaded['training_file'])} training examples")

    def _data_run(self, job: dict[str, Any], loaded: dict[str, list[dict[str, Any]]]) -> RunDir:
        run = RunDir.create(runs_root(self.project_dir), "data", {"fine_tuning_job": job["id"]})
        with run.running() as outcome:
            prefix = "preference_" if job["method"]["type"] == "dpo" else ""
            train = [{"id": f"{job['training_file']}:{i + 1}", **r} for i, r in enumerate(loaded["training_file"])]
            val = [
                {"id": f"{job.get('validation_file')}:{i + 1}", **r}
                for i, r in enumerate(loaded.get("validation_file", []))
            ]
            write_jsonl(run.path(f"{prefix}train.jsonl"), train)
            write_jsonl(run.path(f"{prefix}val.jsonl"), val)
            if prefix:
                write_jsonl(run.path("train.jsonl"), [])
                write_jsonl(run.path("val.jsonl"), [])
            version = hashlib.sha256(json.dumps([train, val], sort_keys=True).encode()).hexdigest()[:16]
            counts = {"train": len(train), "val": len(val)}
            run.write_json("manifest.json", {"version": version, "examples": counts})
            run.record_inputs(
                dataset_version=version, training_file=job["training_file"], validation_file=job.get("validation_file")
            )
            outcome.summary = {"version": version, "examples": counts}
        return run

    def _fail(self, job: dict[str, Any], code: str, message: str, param: str | None) -> None:
        if not self.store.update_job(
            job["id"],
            holder=job["lease"],
            status="failed",
            error={"code": code, "message": message, "param": param},
            finished_at=int(time.time()),
            worker_pid=None,
            lease=None,
        ):
            return self._taken("job", job["id"])
        self.store.add_event(job["id"], message, level="error")

    # -- queued -> running -> succeeded | failed | cancelled -----------------------------------------
    def train(self, job: dict[str, Any]) -> None:
        job_id, lease = job["id"], job["lease"]
        train_run = self._train_run(job)
        runs = runs_root(self.project_dir)
        self._check_shared("jobs", job, runs / job["train_run"] if job.get("train_run") and not train_run else None)
        if train_run is None and job.get("data_run") and run_by_id(self.project_dir, job["data_run"]) is None:
            self._check_shared("jobs", job, runs / job["data_run"])
        logs = self.store.folder / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        held = {"lost": False}
        # steps already reported (a resumed job re-reads metrics.jsonl from the top; each step is one event)
        reported = self.store.reported_steps(job_id)
        tails: dict[str, MetricsTail] = {}  # per run folder: metrics.jsonl read as it grows

        def update(**fields: Any) -> bool:
            held["lost"] = held["lost"] or not self.store.update_job(job_id, holder=lease, **fields)
            return not held["lost"]

        def cancel_requested() -> bool:
            current = self.store.get_job(job_id)
            return held["lost"] or (current is not None and bool(current["cancel_requested"]))

        args = ["train", "--project", str(self.project_dir), "--json"]
        if job["status"] == "running" and train_run is not None:
            if job["cancel_requested"]:  # asked to stop while it waited for its run
                return self._cancelled(job, update)
            if self._held_elsewhere("jobs", job, train_run, lambda t: self.store.add_event(job_id, t)):
                return
            if train_run.status == "succeeded":  # the process that held the run finished its training
                self._report(job, train_run, MetricsTail(train_run), reported)
                return self._succeed(job, train_run, "")
            self.store.add_event(job_id, f"Resuming from the last checkpoint of {train_run.id}")
            args += ["--resume", "--run", train_run.id]
        else:
            # the job's training settings, typed and checked when the job was created, as a settings file
            settings = logs / f"{job_id}.settings.json"
            atomic_write_json(settings, train_settings(job["method"], job["seed"], job.get("metadata")))
            args += ["--data", job["data_run"], "--settings", str(settings)]
            self.store.add_event(job_id, "Fine-tuning job started")
        if not update(status="running", started_at=job.get("started_at") or int(time.time())):
            return self._taken("job", job_id)
        found = {"run": train_run}

        started = time.time()  # the child's run folder is named after a time no earlier than this

        def watch(pid: int) -> None:
            if not update(heartbeat=time.time()):
                return  # taken over: cancel_requested() stops the child; nothing more is reported from here
            found["run"] = found["run"] or self._train_run(job, pid=pid, since=started)
            run = found["run"]
            if run is not None:
                if job.get("train_run") != run.id:
                    update(train_run=run.id)
                    job["train_run"] = run.id
                self._report(job, run, tails.setdefault(run.id, MetricsTail(run)), reported)

        log = logs / f"{job_id}.log"
        finished = supervise(
            args,
            cwd=self.project_dir,
            env={"TUNESMITH_JOB": job_id},
            log=log,
            watch=watch,
            cancel_requested=cancel_requested,
        )
        if held["lost"]:
            return self._taken("job", job_id)
        train_run = found["run"] or self._train_run(job, pid=finished.pid, since=started)
        if train_run is not None:
            self._report(job, train_run, tails.setdefault(train_run.id, MetricsTail(train_run)), reported)
        if finished.cancelled:
            return self._cancelled(job, update)
        if finished.returncode != 0 or train_run is None:
            tail = last_lines(log, 1) or ["no output"]
            return self._fail(job, "training_failed", f"Training failed: {tail[0][-500:]}", None)
        self._succeed(job, train_run, finished.stdout)

    def _cancelled(self, job: dict[str, Any], update: Callable[..., bool]) -> None:
        if update(status="cancelled", finished_at=int(time.time()), worker_pid=None, lease=None):
            self.store.add_event(job["id"], "Job cancelled; the last complete checkpoint is kept")

    def _train_run(self, job: dict[str, Any], pid: int | None = None, since: float = 0.0) -> RunDir | None:
        """The job's training run: the one recorded for it, else the one its training process ``pid``, started at
        ``since``, made."""
        if job.get("train_run"):
            return run_by_id(self.project_dir, job["train_run"], "train")
        if pid is not None:
            mine = [r for r in _runs_of(runs_since(self.project_dir, since), job["id"], pid) if r.stage == "train"]
            return mine[-1] if mine else None
        return None

    def _report(self, job: dict[str, Any], run: RunDir, tail: MetricsTail, reported: set[int]) -> None:
        """New metrics lines -> events (one per step, never again after a resume); new complete checkpoints ->
        checkpoint records."""
        for row in tail.read():
            step = row.get("step")
            if step is None or (row.get("loss") is not None and int(step) in reported):
                continue
            data = {"step": step, "total_steps": row.get("max_steps")}
            for ours, theirs in (
                ("loss", "train_loss"),
                ("eval_loss", "valid_loss"),
                ("mean_token_accuracy", "train_mean_token_accuracy"),
            ):
                if row.get(ours) is not None:
                    data[theirs] = row[ours]
            if len(data) > 2:
                if row.get("loss") is not None:
                    reported.add(int(step))
                text = ", ".join(f"{k} {v:.4f}" for k, v in data.items() if isinstance(v, float))
                self.store.add_event(job["id"], f"Step {step}: {text}", type_="metrics", data=data)
        by_step = tail.by_step
        for folder in complete_checkpoints(run.path("checkpoints")):
            step = int(folder.name.rsplit("-", 1)[-1])
            metrics = {"step": step}
            if step in by_step:
                m = by_step[step]
                metrics.update({"train_loss": m.get("loss"), "valid_loss": m.get("eval_loss")})
            if self.store.has_checkpoint(job["id"], step):
                continue
            kept = self._keep_adapter(job["id"], step, folder)
            if self.store.add_checkpoint(job["id"], step, metrics, str(kept.relative_to(self.project_dir))):
                self.store.add_event(job["id"], f"New checkpoint at step {step}", data={"step": step})

    def _keep_adapter(self, job_id: str, step: int, folder: Path) -> Path:
        """A copy of a checkpoint's adapter (megabytes), servable after the trainer rotates the checkpoint out."""
        import shutil

        files = [f for f in folder.iterdir() if f.name.startswith("adapter_") and f.is_file()]
        if not files:
            return folder  # a full fine-tune: the checkpoint itself
        target = self.store.folder / "checkpoints" / job_id / f"step-{step}"
        partial = target.with_name(target.name + ".part")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        for f in files:
            shutil.copy2(f, partial / f.name)
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
        return target

    def _succeed(self, job: dict[str, Any], run: RunDir, stdout: str) -> None:
        summary = _last_json(stdout) or {}
        model_id = fine_tuned_model_id(job["model"], job.get("suffix"), job["id"])
        rows = [r for r in run.metrics() if r.get("step") is not None and r.get("loss") is not None]
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["step", "train_loss", "valid_loss"])
        for r in rows:
            writer.writerow([r["step"], r.get("loss"), r.get("eval_loss", "")])
        results = self.store.add_file(f"{job['id']}-results.csv", "fine-tune-results", buffer.getvalue().encode())
        if not self.store.update_job(
            job["id"],
            holder=job["lease"],
            status="succeeded",
            fine_tuned_model=model_id,
            finished_at=int(time.time()),
            trained_tokens=_trained_tokens(summary, run),
            result_files=[results["id"]],
            train_run=run.id,
            worker_pid=None,
            lease=None,
        ):
            self.store.delete_file(results["id"])  # the job's new worker writes its own
            return self._taken("job", job["id"])
        self.store.add_event(job["id"], f"New fine-tuned model created: {model_id}")
        self.store.add_event(job["id"], "The job has successfully completed")


class MetricsTail:
    """A run's metrics.jsonl read as it grows: each call parses only the lines written since the last. The
    worker looks four times a second; reading the whole file each time cost 0.6 s a look at 100,000 steps (more
    than a core, taken from the training beside it)."""

    def __init__(self, run: RunDir) -> None:
        self.path = run.path("metrics.jsonl")
        self.offset = 0
        self.by_step: dict[int, dict[str, Any]] = {}  # every number logged per step, for checkpoint records

    def read(self) -> list[dict[str, Any]]:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return []
        if size < self.offset:  # written anew: read it from the top
            self.offset, self.by_step = 0, {}
        if size == self.offset:
            return []
        with self.path.open("rb") as f:
            f.seek(self.offset)
            chunk = f.read(size - self.offset)
        end = chunk.rfind(b"\n") + 1  # a line still being written is read whole at the next look
        self.offset += end
        rows = []
        for line in chunk[:end].splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a killed run's torn last line, with the resumed run's first after it
                continue
            if not isinstance(row, dict):
                continue
            rows.append(row)
            if row.get("step") is not None:
                numbers = {k: v for k, v in row.items() if isinstance(v, int | float) and k != "time"}
                self.by_step.setdefault(int(row["step"]), {}).update(numbers)
        return rows


def _runs_of(runs: list[RunDir], job_id: str, pid: int) -> list[RunDir]:
    """The runs process ``pid`` made (or resumed) for a job: `TUNESMITH_JOB` and the machine are in their run.json
    beside the pid, which alone says little where workers on several machines share the project folder
    (containers start from the same few pids) or a job's earlier attempt left its own run."""
    import socket

    here = socket.gethostname()
    return [r for r in runs if (r.info.get("job"), r.info.get("pid"), r.info.get("host")) == (job_id, pid, here)]


def _log(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(text + "\n")


def _trained_tokens(summary: dict[str, Any], run: RunDir) -> int | None:
    """Tokens the job trained on: the command's summary, else the trainer's own count in metrics.jsonl, which a
    resumed run carries on from its checkpoint."""
    for key in ("tokens_processed", "trained_tokens"):
        if isinstance(summary.get(key), int):
            return int(summary[key])
    seen = [r["tokens_seen"] for r in run.metrics() if isinstance(r.get("tokens_seen"), int)]
    return max(seen) if seen else None


def _last_json(stdout: str) -> dict[str, Any] | None:
    """The JSON object a `--json` command printed last on stdout (progress goes to stderr)."""
    start = stdout.find("{")
    while start != -1:
        try:
            value = json.loads(stdout[start:])
            return value if isinstance(value, dict) else None
        except json.JSONDecodeError:
            start = stdout.find("{", start + 1)
    return None
