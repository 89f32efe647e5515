"""Find run folders in a project: the latest of a stage, or one the user named."""

from __future__ import annotations

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
    runs = [RunDir(p.parent) for p in root.rglob(RUN_FILE)]
    if stage is not None:
        runs = [r for r in runs if r.stage == stage]
    return sorted(runs, key=lambda r: (r.info.get("created", ""), str(r.root)))


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
            by_id = [r for r in list_runs(project_dir) if r.id == ref]
            if not by_id:
                raise StageError(
                    f"no run named '{ref}'",
                    where=str(runs_root(project_dir)),
                    fix="Pass a run folder path or id; `ls runs/` lists them.",
                )
            candidate = by_id[-1].root
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
