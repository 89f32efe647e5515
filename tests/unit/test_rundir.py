"""Run folders: two processes starting the same stage in the same second get a folder each."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tunesmith.core.rundir import RunDir


def test_a_name_taken_between_look_and_make_moves_to_the_next(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = RunDir.create(tmp_path / "runs", "train", name="20261206-120000-train")
    # another process made the folder after this one looked: mkdir is the only check that cannot race
    monkeypatch.setattr(Path, "exists", lambda self: False)
    second = RunDir.create(tmp_path / "runs", "train", name="20261206-120000-train")
    third = RunDir.create(tmp_path / "runs", "train", name="20261206-120000-train")
    assert [r.root.name for r in (first, second, third)] == [
        "20261206-120000-train",
        "20261206-120000-train-2",
        "20261206-120000-train-3",
    ]


HOLDER = """
import sys, time
from pathlib import Path
from tunesmith.core.rundir import RunDir
run = RunDir.create(Path(sys.argv[1]), "train", {}, name="busy")
print(run.root, flush=True)
time.sleep(120)
"""


def _start_holder(parent: Path) -> tuple[subprocess.Popen[str], RunDir]:
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(parent)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, RunDir(Path(process.stdout.readline().strip()))


def test_a_run_in_progress_in_another_process_is_not_resumed_until_it_ends(tmp_path: Path) -> None:
    from tunesmith.core.errors import StageError

    process, run = _start_holder(tmp_path / "runs")
    try:
        assert run.status == "running"
        here = socket.gethostname()
        with pytest.raises(StageError, match=f"still in progress in another process \\(pid {process.pid} on {here}\\)"):
            RunDir.begin(tmp_path / "runs", "train", resume=RunDir(run.root))
        assert run.info["pid"] == process.pid and "resumed" not in run.info  # left as the other process has it
    finally:
        process.kill()
        process.wait()
    assert run.status == "interrupted"  # killed: the kernel let its lock go
    resumed = RunDir.begin(tmp_path / "runs", "train", resume=RunDir(run.root))
    with resumed.running():
        assert resumed.status == "running" and resumed.info["pid"] == os.getpid()
    assert resumed.status == "succeeded"


def test_a_killed_run_whose_pid_came_back_to_life_reads_as_interrupted(tmp_path: Path) -> None:
    process, run = _start_holder(tmp_path / "runs")
    process.kill()
    process.wait()
    info = run.info
    info["pid"] = os.getppid()  # the pid now names a live, unrelated process (pids are reused)
    (run.root / "run.json").write_text(json.dumps(info))
    assert run.status == "interrupted"


def test_runs_are_read_without_write_access_to_their_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    process, run = _start_holder(tmp_path / "runs")
    opened = Path.open

    def read_only(self: Path, mode: str = "r", *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        if any(flag in mode for flag in "aw+x"):
            raise PermissionError(13, "Read-only file system", str(self))
        return opened(self, mode, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "open", read_only)  # a project copied to a read-only mount, listed
    try:
        assert run.status == "running"
    finally:
        process.kill()
        process.wait()
    assert run.status == "interrupted"


def test_a_job_finds_the_run_its_process_made_not_one_with_the_same_pid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers on several machines share the project folder, and containers repeat pids: a job's run is the one
    with its job id, pid and machine."""
    from tunesmith.serve.jobstore import JobStore
    from tunesmith.serve.worker import Worker

    here = socket.gethostname()

    def made(job: str, host: str) -> RunDir:
        monkeypatch.setenv("TUNESMITH_JOB", job)
        monkeypatch.setattr(socket, "gethostname", lambda: host)
        run = RunDir.create(tmp_path / "runs", "train", {})
        run.finish()
        return run

    mine = made("ftjob-a", here)
    made("ftjob-b", here)  # another job's run on this machine, a pid reused
    made("ftjob-a", "gpu-2")  # the same job's attempt on another machine, the same pid in its container
    assert mine.info["job"] == "ftjob-a" and mine.info["host"] == here
    monkeypatch.setattr(socket, "gethostname", lambda: here)  # the worker looks from this machine
    worker = Worker(tmp_path, JobStore(tmp_path / "store"))
    found = worker._train_run({"id": "ftjob-a"}, pid=os.getpid())
    assert found is not None and found.root == mine.root


def test_a_run_is_found_by_id_at_its_folder_and_new_runs_by_their_names(tmp_path: Path) -> None:
    import time

    from tunesmith.registry.runs import run_by_id, runs_since

    project = tmp_path / "project"
    study = RunDir.create(project / "runs", "tune", {})
    trial = RunDir.create(study.root, "train", {}, name="trial-3")
    assert trial.id == f"{study.id}.trial-3"
    assert run_by_id(project, trial.id).root == trial.root
    assert run_by_id(project, trial.id, "train").root == trial.root and run_by_id(project, trial.id, "eval") is None
    assert run_by_id(project, study.id).root == study.root
    # a folder moved under another name is still found, by the walk
    study_id, moved = study.id, study.root.with_name("copied-study")
    study.finish()
    study.root.rename(moved)
    assert run_by_id(project, study_id).root == moved
    # ids that are no folder name go to the walk, never to a path outside the project
    (tmp_path / "run.json").write_text(json.dumps({"id": "../..", "stage": "train"}))
    assert run_by_id(project, "../..") is None and run_by_id(project, "/etc") is None
    later = time.time() + 2
    assert [r.root for r in runs_since(project, later)] == [moved]  # a name without a time: always looked at
    time.sleep(max(0.0, later - time.time()))
    new = RunDir.create(project / "runs", "train", {})
    assert [r.root for r in runs_since(project, later)] == [moved, new.root]


def test_listing_walks_runs_and_their_stage_runs_not_their_checkpoints(tmp_path: Path) -> None:
    from tunesmith.registry.runs import list_runs

    project = tmp_path / "project"
    pipeline = RunDir.create(project / "runs", "run", {})
    stage = RunDir.create(pipeline.root, "train", {}, name="train")
    (stage.root / "checkpoints" / "checkpoint-4").mkdir(parents=True)
    # a stray run.json inside a run's own folders is no run (the walk does not go there)
    (stage.root / "checkpoints" / "checkpoint-4" / "run.json").write_text('{"id": "x", "stage": "train"}')
    archived = RunDir.create(project / "runs" / "archive" / "2025", "eval", {})  # moved by a user: still listed
    assert [r.root for r in list_runs(project)] == [pipeline.root, stage.root, archived.root]
    assert [r.root for r in list_runs(project, "train")] == [stage.root]


def test_a_resumed_run_logs_whole_lines_after_the_one_a_kill_cut(tmp_path: Path) -> None:
    """A run killed while writing a metrics line leaves it without its end; the resumed run's first line went on
    after it and both were unreadable. The cut line is dropped at the next process's first write."""
    killed = RunDir.create(tmp_path, "train")
    killed.log_metrics(step=1, loss=2.5)
    killed.log_metrics(step=2, loss=2.25)
    with killed.path("metrics.jsonl").open("a") as handle:
        handle.write('{"step": 3, "lo')  # the kill came here
    resumed = RunDir(killed.root)
    resumed.log_metrics(step=3, loss=2.0)
    resumed.log_metrics(step=4, loss=1.75)
    assert [(m["step"], m["loss"]) for m in resumed.metrics()] == [(1, 2.5), (2, 2.25), (3, 2.0), (4, 1.75)]
    assert killed.path("metrics.jsonl").read_text().count("\n") == 4
    # a whole file is left as it is: a later process appends after its last line
    RunDir(killed.root).log_metrics(step=5, loss=1.5)
    assert [m["step"] for m in RunDir(killed.root).metrics()] == [1, 2, 3, 4, 5]
