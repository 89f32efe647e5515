"""Find run folders in a project: the latest of a stage, or one the user named."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from tunesmith.core.errors import StageError
from tunesmith.core.rundir import RUN_FILE, RunDir

RUNS_FOLDER = "runs"


def runs_root(project_dir: Path) -> Path:
    return project_dir / RUNS_FOLDER


def list_runs(project_dir: Path, stage: str | None = None) -> list[RunDir]:
    """Every run folder under ``runs/`` (pipeline runs nest stage runs), oldest first."""
    root = runs_root(project_dir)
    if not root.exists():
        return []
    found = []
    for folder in _run_folders(root):
        run = RunDir(folder)
        info = run.info  # read once here for the stage and the order (each `.info` reads the file)
        if stage is None or info.get("stage") == stage:
            found.append((info.get("created", ""), str(run.root), run))
    return [run for *_, run in sorted(found, key=lambda entry: entry[:2])]


def _run_folders(folder: Path, *, inside_run: bool = False) -> Iterator[Path]:
    """Run folders under ``folder``. A run's own stage runs are folders of it with a run.json; its other
    folders (checkpoints, adapters, exports: most of a project's files) are not walked. Outside runs every
    folder is (runs a user moved into a folder of their own are still found)."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:  # gone meanwhile, or unreadable
        return
    for entry in entries:
        if not entry.is_dir(follow_symlinks=False):
            continue
        path = Path(entry.path)
        if (path / RUN_FILE).is_file():
            yield path
            yield from _run_folders(path, inside_run=True)
        elif not inside_run:
            yield from _run_folders(path)


# a run's id is its folder's name, nested ones joined by "." to their parents' ("<pipeline id>.train")
_FOLDER_NAME = re.compile(r"[A-Za-z0-9_-]+")
_STAMPED = re.compile(r"\d{8}-\d{6}-")  # RunDir.create's names: <time>-<stage>


def run_by_id(project_dir: Path, run_id: str, stage: str | None = None) -> RunDir | None:
    """The run with this id: its folder at once, where the id says it is (a project's thousands of tuning trials
    made every lookup a walk of all of them: 0.4 s for 3,000, bench/watching.py), else found by that walk."""
    parts = run_id.split(".")
    if all(_FOLDER_NAME.fullmatch(part) for part in parts):
        candidate = RunDir(runs_root(project_dir).joinpath(*parts))
        if (candidate.root / RUN_FILE).is_file() and candidate.id == run_id:
            return candidate if stage is None or candidate.stage == stage else None
    matches = [r for r in list_runs(project_dir, stage) if r.id == run_id]
    return matches[-1] if matches else None


def runs_since(project_dir: Path, started: float) -> list[RunDir]:
    """Top-level runs made at or after ``started`` (a time.time()), oldest first: their folders' names begin
    with their creation time, so only those run.json files are read (and those of folders someone renamed)."""
    from datetime import datetime

    root = runs_root(project_dir)
    if not root.is_dir():
        return []
    mark = datetime.fromtimestamp(int(started)).strftime("%Y%m%d-%H%M%S")
    found = [
        RunDir(p) for p in root.iterdir() if (p.name >= mark or not _STAMPED.match(p.name)) and (p / RUN_FILE).is_file()
    ]
    return sorted(found, key=lambda r: (r.info.get("created", ""), str(r.root)))


def latest_run(project_dir: Path, stage: str, *, status: str = "succeeded") -> RunDir | None:
    matching = [r for r in list_runs(project_dir, stage) if r.status == status]
    return matching[-1] if matching else None


def resolve_run(project_dir: Path, ref: str | None, stage: str) -> RunDir:
    """A run named by path or id, or the latest succeeded run of ``stage``.

    A stage that needs an earlier stage's output calls this, so a missing
    prerequisite is one clear error that says which command to run first.
    """
    if ref:
        candidate = Path(ref)
        if not candidate.is_absolute() and not (candidate / RUN_FILE).is_file():
            candidate = project_dir / ref
        if not (candidate / RUN_FILE).is_file():
            named = run_by_id(project_dir, ref)
            if named is None:
                raise StageError(
                    f"no run named '{ref}'",
                    where=str(runs_root(project_dir)),
                    fix="Pass a run folder path or id; `ls runs/` lists them.",
                )
            candidate = named.root
        run = RunDir(candidate)
        if run.stage != stage:
            raise StageError(
                f"run '{run.id}' is a {run.stage} run, not a {stage} run",
                where=str(run.root),
                fix=f"Pass a {stage} run.",
            )
        if run.status != "succeeded":
            raise StageError(
                f"{stage} run '{run.id}' did not succeed (status: {run.status})",
                where=str(run.root),
                fix=f"Resume it with `tunesmith {stage} --resume {run.id}` or run the stage again.",
            )
        return run
    found = latest_run(project_dir, stage)
    if found is None:
        command = {"data": "tunesmith data build"}.get(stage, f"tunesmith {stage}")
        raise StageError(
            f"no finished {stage} run in this project",
            where=str(runs_root(project_dir)),
            fix=f"Run `{command}` first (or `tunesmith run` for the whole workflow).",
        )
    return found


def find_unfinished(project_dir: Path, stage: str, ref: str | None = None) -> RunDir:
    """The run ``--resume`` continues: the one named by id or folder, else the latest failed or interrupted one."""
    runs = [r for r in list_runs(project_dir, stage) if ref is None or ref in (r.id, str(r.root))]
    if ref is None:
        runs = [r for r in runs if r.status in ("failed", "interrupted")]
    if not runs:
        command = {"synth": "tunesmith synth qa"}.get(stage, f"tunesmith {stage}")
        raise StageError(
            f"no unfinished {stage} run to resume" if ref is None else f"no {stage} run named '{ref}'",
            where=str(runs_root(project_dir)),
            fix=f"Start one with `{command}`, or name one with --run.",
        )
    return runs[-1]
