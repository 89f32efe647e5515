"""The Jobs page: stage jobs started from schema forms, with live progress, loss curve, log and cancel."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

from tunesmith.core.errors import ConfigError
from tunesmith.core.logtail import last_lines
from tunesmith.core.rundir import RunDir
from tunesmith.project import LoadedProject
from tunesmith.registry.runs import list_runs, resolve_run, run_by_id
from tunesmith.serve.confine import check_run_id
from tunesmith.serve.jobstore import JobStore
from tunesmith.serve.worker import MetricsTail, task_paths
from tunesmith.ui.forms import SECTIONS, overrides

TITLES = {
    "train": "Train",
    "eval": "Evaluate",
    "tune": "Tune hyperparameters",
    "gate": "Release gate",
    "data": "Build dataset",
    "kb": "Index knowledge base",
}
# which earlier runs each kind takes, by its CLI option (None: the positional argument)
INPUTS: dict[str, dict[str, tuple[str | None, str]]] = {
    "train": {"data": ("--data", "data")},
    "eval": {"data": ("--data", "data"), "train": ("--train", "train"), "baseline": ("--baseline", "baseline")},
    "tune": {"data": ("--data", "data")},
    "gate": {"eval": (None, "eval")},
    "data": {},
    "kb": {},
}
COMMANDS = {"data": ["data", "build"], "kb": ["kb", "ingest"]}


def kinds() -> list[dict[str, Any]]:
    return [{"kind": k, "title": TITLES[k], "sections": list(SECTIONS[k]), "inputs": list(INPUTS[k])} for k in TITLES]


def choices(loaded: LoadedProject, kind: str) -> dict[str, list[dict[str, str]]]:
    """The runs each input of a job kind can take (newest first, succeeded only)."""
    out: dict[str, list[dict[str, str]]] = {}
    for name, (_, stage) in INPUTS[kind].items():
        runs = [r for r in reversed(list_runs(loaded.dir, stage)) if r.status == "succeeded"]
        if stage == "data" and kind == "eval":
            runs = [r for r in runs if r.path("test.jsonl").is_file() and r.path("test.jsonl").stat().st_size > 0]
        out[name] = [{"id": r.id, "created": str(r.info.get("created", ""))} for r in runs]
    return out


def create(
    loaded: LoadedProject, store: JobStore, kind: str, values: dict[str, Any], inputs: dict[str, str | None]
) -> dict[str, Any]:
    if kind not in TITLES:
        raise ConfigError(f"unknown job kind '{kind}'", fix=f"Use one of {', '.join(TITLES)}.")
    sets = overrides(loaded, kind, values)
    args = list(COMMANDS.get(kind, [kind])) + ["--json"]
    picked = {}
    for name, (option, stage) in INPUTS[kind].items():
        ref = inputs.get(name)
        if not ref:
            continue
        # a run id, never a path: a job reads its inputs from this project's runs only
        check_run_id(str(ref), where=f"inputs.{name}")
        run = resolve_run(loaded.dir, ref, stage)  # a missing or unfinished run is an error now, not in the log
        picked[name] = run.id
        args += [run.id] if option is None else [option, run.id]
    for item in sets:
        args += ["--set", item]
    title = TITLES[kind] + (
        f" on {picked['data']}" if "data" in picked else f" {picked['eval']}" if "eval" in picked else ""
    )
    return decorate(
        loaded, store, store.create_task(kind, title, args, {"values": values, "inputs": picked, "overrides": sets})
    )


def decorate(loaded: LoadedProject, store: JobStore, task: dict[str, Any], *, detail: bool = False) -> dict[str, Any]:
    """A job with what the page shows: progress bars, the loss curve, the log's last lines."""
    task = dict(task)
    task.pop("lease", None)  # the worker's token, not the page's
    log_path, progress_path = task_paths(store, task["id"])
    try:
        task["progress"] = json.loads(progress_path.read_text(encoding="utf-8")).get("tasks", [])
    except (OSError, json.JSONDecodeError):
        task["progress"] = []
    if not detail:
        return task
    run = run_by_id(loaded.dir, task["run"]) if task.get("run") else None
    task["curve"] = loss_curve(run) if run is not None and run.stage == "train" else []
    task["run_status"] = run.status if run is not None else None
    task["log"] = last_lines(log_path, 60)
    return task


# the page asks for a running job every second: each run's metrics.jsonl is read as it grows (a few runs kept)
_TAILS: OrderedDict[str, MetricsTail] = OrderedDict()
_TAILS_LOCK = threading.Lock()
MAX_TAILS = 16
MAX_POINTS = 2000  # what a chart a few hundred pixels wide can show; every evaluation point is kept


def loss_curve(run: RunDir) -> list[dict[str, Any]]:
    """A point per logged step (loss, eval_loss, learning_rate), thinned to about MAX_POINTS: a 100,000-step run
    sent every point to the page each second."""
    key = str(run.root)
    with _TAILS_LOCK:
        tail = _TAILS.pop(key, None) or MetricsTail(run)
        _TAILS[key] = tail
        while len(_TAILS) > MAX_TAILS:
            _TAILS.popitem(last=False)
        tail.read()
        steps = sorted(tail.by_step.items())
    points = []
    for step, row in steps:
        point = {k: row[k] for k in ("loss", "eval_loss", "learning_rate") if k in row}
        if point:
            points.append({"step": step, "max_steps": row.get("max_steps"), **point})
    if len(points) <= MAX_POINTS:
        return points
    stride = -(-len(points) // MAX_POINTS)
    return [p for i, p in enumerate(points) if i % stride == 0 or "eval_loss" in p or i == len(points) - 1]
