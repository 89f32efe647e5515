"""`tunesmith train`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tunesmith.cli.common import DebugOpt, JsonOpt, ProjectOpt, SetOpt, emit, load, set_debug
from tunesmith.core.progress import console


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train(
        project: ProjectOpt = Path("."),
        data: Annotated[str | None, typer.Option(help="Data run to train on (default: the latest).")] = None,
        resume: Annotated[
            bool, typer.Option(help="Continue the latest unfinished training run from its last checkpoint.")
        ] = False,
        run: Annotated[str | None, typer.Option(help="With --resume: the training run to continue.")] = None,
        set_: SetOpt = None,
        json_: JsonOpt = False,
        debug: DebugOpt = False,
    ) -> None:
        """Fine-tune the base model on the latest data build (LoRA SFT, loss on assistant tokens only)."""
        set_debug(debug)
        from tunesmith.pipeline import Context, execute

        loaded = load(project, set_)
        ctx = Context.for_project(loaded)
        resume_run = _unfinished(loaded.dir, run) if resume else None
        run_dir = execute(ctx, "train", resume_run=resume_run, data_ref=data)
        summary = run_dir.info["summary"]
        console.print(
            f"adapter: {summary['adapter']}  final train loss {summary['final_train_loss']}  "
            f"val loss {summary['final_val_loss']}  stops by itself on {summary['stop_rate']:.0%} of samples"
        )
        emit(run_dir.root, summary, json_)


def _unfinished(project_dir: Path, ref: str | None):  # type: ignore[no-untyped-def]
    from tunesmith.core.errors import StageError
    from tunesmith.registry.runs import list_runs

    runs = [r for r in list_runs(project_dir, "train") if ref is None or r.id == ref or str(r.root) == ref]
    runs = [r for r in runs if r.status in ("failed", "interrupted")] if ref is None else runs
    if not runs:
        raise StageError(
            "no unfinished training run to resume",
            where="runs/",
            fix="Start one with `tunesmith train`, or name one with --run.",
        )
    return runs[-1]
