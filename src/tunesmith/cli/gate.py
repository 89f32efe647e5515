"""`tunesmith gate`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tunesmith.cli.common import DebugOpt, JsonOpt, ProjectOpt, SetOpt, emit, load, print_gate, set_debug


def register(app: typer.Typer) -> None:
    @app.command("gate")
    def gate(
        run: Annotated[
            str | None, typer.Argument(help="Evaluation run (or a pipeline run holding one); default: the latest.")
        ] = None,
        project: ProjectOpt = Path("."),
        set_: SetOpt = None,
        json_: JsonOpt = False,
        debug: DebugOpt = False,
    ) -> None:
        """Check the project's release gates on an evaluation. Exit 0 when all pass, 1 otherwise."""
        set_debug(debug)
        from tunesmith.core.rundir import RunDir, is_run_dir
        from tunesmith.pipeline import Context, execute

        loaded = load(project, set_)
        ctx = Context.for_project(loaded)
        eval_ref = run
        if run is not None:
            for candidate in (Path(run), loaded.dir / run, loaded.dir / "runs" / run):
                if is_run_dir(candidate) and RunDir(candidate).stage == "run" and is_run_dir(candidate / "eval"):
                    eval_ref = str(candidate / "eval")
                    break
        run_dir = execute(ctx, "gate", eval_ref=eval_ref)
        result = run_dir.read_json("gate.json")
        print_gate(result)
        emit(run_dir.root, result, json_)
        raise typer.Exit(0 if result["passed"] else 1)
