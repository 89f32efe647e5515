"""`tunesmith run` (the whole workflow) and `tunesmith demo` (it, on the bundled example)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tunesmith.cli.common import DebugOpt, JsonOpt, ProjectOpt, SetOpt, emit, load, print_grid, set_debug
from tunesmith.core.progress import console


def _run(project: Path, overrides: list[str], resume: str | None, as_json: bool, *, gate_exit: bool = True) -> None:
    from tunesmith.pipeline import Context, run_pipeline

    loaded = load(project, overrides)
    result = run_pipeline(Context.for_project(loaded), resume=resume)
    print_grid(result.summary)
    console.print(f"report: {result.run.path('report.html')}")
    emit(result.run.root, result.summary, as_json)
    if result.gate_passed is False:
        if gate_exit:
            raise typer.Exit(1)
        # the demo shows the workflow: a failed gate is one of its results, not an error of the command
        console.print("[yellow]the gate failed: gate.json says which check and why (`tunesmith run` exits 1 here)[/]")


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        project: ProjectOpt = Path("."),
        resume: Annotated[
            str | None, typer.Option(help="Continue this pipeline run, skipping finished stages.")
        ] = None,
        set_: SetOpt = None,
        json_: JsonOpt = False,
        debug: DebugOpt = False,
    ) -> None:
        """The whole workflow: baseline -> data -> train -> eval -> gate -> report. Exit 1 if the gate fails."""
        set_debug(debug)
        _run(project, set_ or [], resume, json_)

    @app.command("demo")
    def demo(
        quick: Annotated[bool, typer.Option(help="A smaller run of every stage (used by the tests).")] = False,
        directory: Annotated[Path, typer.Option("--dir", help="Where to put the demo project.")] = Path(
            "tunesmith-demo"
        ),
        set_: SetOpt = None,
        json_: JsonOpt = False,
        debug: DebugOpt = False,
    ) -> None:
        """Run the whole workflow on the bundled example (Northwind Outfitters support replies). Exit 0 when the
        workflow completed, whatever the gate decided (it is printed)."""
        set_debug(debug)
        from tunesmith.demo import QUICK_OVERRIDES, prepare_demo

        target = prepare_demo(directory)
        console.print(f"demo project: {target.resolve()}")
        _run(target, (QUICK_OVERRIDES if quick else []) + (set_ or []), None, json_, gate_exit=False)
