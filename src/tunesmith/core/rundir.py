"""Run folders that describe themselves.

Every stage run writes to its own folder::

    runs/20261128-213000-train/
      run.json        what ran: stage, status, inputs (lineage), timings, pid
      config.yaml     the resolved config it ran with
      metrics.jsonl   one JSON object per logged step
      ...             the stage's artifacts

``run.json`` is rewritten atomically on every status change, so a killed
process leaves a folder that says ``running`` while no process works in it:
the next ``--resume`` knows it was interrupted. The process working in a run
holds an exclusive lock on the folder's ``.lock`` file (the kernel lets go when
it exits, however it ends), so a second process cannot resume a run still in
progress (two trainers writing one folder's checkpoints), and "is it still
running" does not hang on a pid, which another process may have reused or
which names a process on another machine (a job resumed by another worker).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar

import yaml
from pydantic import BaseModel

from tunesmith import __version__
from tunesmith.core.atomic import atomic_write_json, atomic_write_text
from tunesmith.core.jsonl import cut_torn_tail

RUN_FILE = "run.json"
LOCK_FILE = ".lock"
STATUSES = ("running", "succeeded", "failed", "interrupted")
M = TypeVar("M", bound=BaseModel)
_HELD: dict[Path, IO[str]] = {}
"""The run folders this process works in, and their locks' open files (closing one lets the lock go)."""


@dataclass
class Outcome:
    """What a block inside ``RunDir.running()`` reports: its summary, and its status when not plain success."""

    summary: dict[str, Any] = field(default_factory=dict)
    status: str = "succeeded"


class RunDir:
    """A stage's run folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._metrics_checked = False

    # -- creation -------------------------------------------------------------
    @classmethod
    def create(
        cls,
        parent: Path,
        stage: str,
        config: dict[str, Any] | None = None,
        *,
        name: str | None = None,
    ) -> RunDir:
        """Make a new run folder under ``parent`` (named ``<time>-<stage>`` unless ``name`` is given)."""
        parent.mkdir(parents=True, exist_ok=True)
        base = name or f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{stage}"
        root, suffix = parent / base, 1
        while True:
            try:
                root.mkdir()  # not exists() then mkdir(): two processes starting a stage in one second race there
                break
            except FileExistsError:
                suffix += 1
                root = parent / f"{base}-{suffix}"
        run = cls(root)
        run._hold()
        now = _now()
        # nested stage folders are named after the stage alone; their id carries the parent's
        parent_info = parent / RUN_FILE
        run_id = root.name
        if name is not None and parent_info.is_file():
            run_id = f"{json.loads(parent_info.read_text(encoding='utf-8'))['id']}.{root.name}"
        run._write_info(
            {
                "id": run_id,
                "stage": stage,
                "status": "running",
                "created": now,
                "updated": now,
                **_whose(),
                "tunesmith_version": __version__,
                "inputs": {},
                "summary": {},
            }
        )
        if config is not None:
            run.write_config(config)
        return run

    @classmethod
    def begin(
        cls,
        parent: Path,
        stage: str,
        config: dict[str, Any] | None = None,
        *,
        name: str | None = None,
        resume: RunDir | None = None,
    ) -> RunDir:
        """A new run folder, or ``resume`` (an unfinished one) marked running again under this process."""
        if resume is not None:
            resume.restart()
            return resume
        return cls.create(parent, stage, config, name=name)

    # -- reading --------------------------------------------------------------
    @property
    def id(self) -> str:
        """Unique within a project: the folder name, prefixed by the pipeline run's id when nested."""
        return str(self.info.get("id", self.root.name))

    @property
    def info(self) -> dict[str, Any]:
        return json.loads((self.root / RUN_FILE).read_text(encoding="utf-8"))

    @property
    def stage(self) -> str:
        return str(self.info["stage"])

    @property
    def status(self) -> str:
        info = self.info
        status = str(info["status"])
        if status == "running" and not self._in_progress(info):
            return "interrupted"
        return status

    def _in_progress(self, info: dict[str, Any]) -> bool:
        """Whether a process still works in this run: its lock is held (folders from before the lock: the pid)."""
        lock = self.path(LOCK_FILE)
        if not lock.is_file():
            return pid_alive(int(info.get("pid", 0)))
        if self.root.resolve() in _HELD:
            return True
        try:
            handle = lock.open("rb")  # read-only: a run folder on a read-only copy is still listed
        except OSError:
            return pid_alive(int(info.get("pid", 0)))
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
        return False

    def _hold(self) -> None:
        """Take this run's lock for this process, or say which process works in it."""
        key = self.root.resolve()
        if key in _HELD:
            return
        handle = self.path(LOCK_FILE).open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            from tunesmith.core.errors import StageError

            info = self.info
            pid = info.get("pid", "?")
            where = f" on {info['host']}" if info.get("host") else ""
            raise StageError(
                f"run {self.id} is still in progress in another process (pid {pid}{where})",
                where=str(self.root),
                fix=f"Wait for it to end, or stop it (kill {pid}); then --resume continues from its last checkpoint.",
            ) from None
        _HELD[key] = handle

    def _release(self) -> None:
        handle = _HELD.pop(self.root.resolve(), None)
        if handle is not None:
            handle.close()

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    def config(self, model: type[M]) -> M:
        """The settings this run started with (its config.yaml), validated as ``model``."""
        return model.model_validate(yaml.safe_load(self.path("config.yaml").read_text(encoding="utf-8")))

    def read_json(self, name: str) -> Any:
        return json.loads(self.path(name).read_text(encoding="utf-8"))

    def metrics(self) -> list[dict[str, Any]]:
        path = self.path("metrics.jsonl")
        if not path.exists():
            return []
        rows = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                # the last line of a killed run may be cut short; the rest is good
                continue
        return rows

    # -- writing --------------------------------------------------------------
    def write_config(self, config: dict[str, Any]) -> None:
        atomic_write_text(self.path("config.yaml"), yaml.safe_dump(config, sort_keys=False, allow_unicode=True))

    def write_json(self, name: str, obj: Any) -> Path:
        target = self.path(name)
        atomic_write_json(target, obj)
        return target

    def log_metrics(self, **values: Any) -> None:
        """Append one JSON line; flushed at once so a live UI or a crash sees it."""
        values.setdefault("time", round(time.time(), 3))
        line = memoryview((json.dumps(values, default=float) + "\n").encode("utf-8"))
        fd = os.open(self.path("metrics.jsonl"), os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            if not self._metrics_checked:
                # one process works in a run (its lock): a last line without its end is what a killed one
                # left, and the resumed run's first line appended to it would be lost with it
                cut_torn_tail(fd)
                self._metrics_checked = True
            while line:
                line = line[os.write(fd, line) :]
        finally:
            os.close(fd)

    def record_inputs(self, **inputs: Any) -> None:
        """Lineage: which runs, datasets and models this run consumed."""
        info = self.info
        info["inputs"].update(inputs)
        self._write_info(info)

    def annotate(self, **fields: Any) -> None:
        """Record facts about the run outside its inputs and summary (e.g. where a tracker logged it)."""
        self._write_info({**self.info, **fields})

    def finish(
        self, status: str = "succeeded", *, summary: dict[str, Any] | None = None, error: str | None = None
    ) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        info = self.info
        info["status"] = status
        info["updated"] = _now()
        info["finished"] = info["updated"]
        if summary is not None:
            info["summary"] = summary
        if error is not None:
            info["error"] = error
        self._write_info(info)
        self._release()  # written as ended: another process may resume it now

    @contextmanager
    def running(self, *, keep: Callable[[str], bool] = lambda key: True) -> Iterator[Outcome]:
        """Mark this run by how the block ends, so a run folder never stays "running" after its process is gone.

        Succeeded (or the ``status`` the block set on the yielded outcome) with the block's summary plus
        ``seconds`` (``keep`` filters which keys go into run.json), failed with the error's text, or
        interrupted on Ctrl-C. The one lifecycle every caller uses: CLI, pipeline, tune, worker, uploads.
        """
        from tunesmith.core.errors import TunesmithError

        self._hold()
        started = time.perf_counter()
        outcome = Outcome()
        try:
            try:
                yield outcome
            except KeyboardInterrupt:
                self.finish("interrupted", error="interrupted by the user")
                raise
            except TunesmithError as exc:
                self.finish("failed", error=exc.render())
                raise
            except BaseException as exc:
                self.finish("failed", error=f"{type(exc).__name__}: {exc}")
                raise
            outcome.summary = {**outcome.summary, "seconds": round(time.perf_counter() - started, 1)}
            self.finish(outcome.status, summary={k: v for k, v in outcome.summary.items() if keep(k)})
        finally:
            self._release()  # also when writing the end failed (a full disk): the folder then says interrupted

    def record(
        self, work: Callable[[], dict[str, Any]], *, keep: Callable[[str], bool] = lambda key: True
    ) -> dict[str, Any]:
        """Run ``work`` inside ``running()``; returns its summary (with ``seconds``)."""
        with self.running(keep=keep) as outcome:
            outcome.summary = work()
        return outcome.summary

    def update_summary(self, **values: Any) -> None:
        """Add to a finished run's summary (e.g. the score a tuning trial earned after its training)."""
        info = self.info
        info["summary"] = {**info.get("summary", {}), **values}
        self._write_info(info)

    def restart(self) -> None:
        """Mark a resumed run as running again under this process (a run still in progress elsewhere is refused)."""
        self._hold()
        info = self.info
        info.update(status="running", **_whose(), updated=_now())
        info.pop("error", None)
        info.setdefault("resumed", []).append(info["updated"])
        self._write_info(info)

    @property
    def resumed(self) -> bool:
        """Whether this run was continued after an interruption (it then picks up from its own state)."""
        return bool(self.info.get("resumed"))

    def _write_info(self, info: dict[str, Any]) -> None:
        atomic_write_json(self.root / RUN_FILE, info)


def _whose() -> dict[str, Any]:
    """Which process works in a run: its pid, its machine (a project folder shared by workers on several machines,
    where pids repeat: containers start from the same few), and the server job it runs for, if any (the worker
    finds its job's run by that, never by a pid)."""
    import socket

    who: dict[str, Any] = {"pid": os.getpid(), "host": socket.gethostname()}
    job = os.environ.get("TUNESMITH_JOB")
    if job:
        who["job"] = job
    return who


def is_run_dir(path: Path) -> bool:
    return (path / RUN_FILE).is_file()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_identity(pid: int) -> str | None:
    """A running process as "pid:start time" (Linux: clock ticks since boot, /proc/PID/stat), None when no
    process has that pid. Unlike the pid alone it changes when the pid is reused: a container restarted
    gives its new worker the pid its old worker had, and the old worker's job looked taken for good."""
    if not pid_alive(pid):
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # not Linux, or gone meanwhile: the pid is all there is
        return str(pid)
    fields = stat[stat.rfind(")") + 2 :].split()  # after the command name, which may hold spaces
    return f"{pid}:{fields[19]}" if len(fields) > 19 else str(pid)
