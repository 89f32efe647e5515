"""`tunesmith run` (the whole workflow) and `tunesmith demo` (it, on the bundled example)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tunesmith.cli.common import DebugOpt, JsonOpt, ProjectOpt, SetOpt, emit, load, print_grid, set_debug
from tunesmith.core.progress import console

RemedyOpt = Annotated[
    bool,
    typer.Option(
        "--remedy/--no-remedy",
        help="When the gate fails: search (on validation data only) for training settings that pass it, then "
        "evaluate the best such trial on the test split and gate again.",
    ),
]
RemedyTrialsOpt = Annotated[int, typer.Option(help="With --remedy: the most trials the search runs.", min=1, max=100)]
RemedyMinutesOpt = Annotated[
    float | None, typer.Option(help="With --remedy: stop starting trials after this many minutes.", min=1)
]


def _run(
    project: Path,
    overrides: list[str],
    resume: str | None,
    as_json: bool,
    *,
    remedy: bool,
    trials: int,
    minutes: float | None,
    promote: bool = False,
) -> dict[str, Any]:
    from tunesmith.pipeline import Context, run_pipeline

    loaded = load(project, overrides)
    ctx = Context.for_project(loaded)
    result = run_pipeline(ctx, resume=resume)
    if remedy and result.gate_passed is False:
        from tunesmith.remedy import run_until_gate

        result = run_until_gate(ctx, result, trials=trials, minutes=minutes)
    summary = result.summary
    summary["comparisons"] = _comparisons(summary, ctx)
    summary["promoted"] = _promote(ctx, summary) if promote and result.gate_passed else None
    result.run.write_json("summary.json", summary)
    print_grid(summary)
    if summary.get("remedy"):
        _print_remedy(summary["remedy"])
    if summary["promoted"]:
        p = summary["promoted"]
        console.print(f"promoted {p['model']} version {p['version']} to @{p['alias']}")
    console.print(f"report: {result.run.path('report.html')}")
    emit(result.run.root, {**summary, "run_dir": str(result.run.root)}, as_json)
    return summary


def _comparisons(summary: dict[str, Any], ctx: Any) -> dict[str, dict[str, float]]:
    """Every paired difference the report shows, on the primary metric: {"finetuned+rag vs finetuned": {...}}."""
    eval_run = ctx.runs.get("eval")
    if eval_run is None:
        return {}
    primary = summary.get("primary")
    return {
        f"{c['system']} vs {c['other']}": {k: c["diff"][k] for k in ("mean", "low", "high")}
        for c in eval_run.read_json("comparisons.json")
        if c["metric"] == primary
    }


def _promote(ctx: Any, summary: dict[str, Any]) -> dict[str, Any] | None:
    """The version the gate registered, moved to @production (the registry checks the verdict itself)."""
    registered = (summary.get("gate") or {}).get("registered")
    if registered is None or ctx.tracker is None:
        return None
    from tunesmith.registry.models import parse_ref, promote

    moved = promote(ctx.tracker, parse_ref(registered["version"], ctx.tracker.model_name), "production")
    return {"model": moved["model"], "version": moved["version"], "alias": "production"}


def _print_remedy(record: dict[str, Any]) -> None:
    status = record.get("status")
    if status == "found":
        console.print(
            f"remedy: trial {record['trial']} of {record['trials']} ({record['params']}) met the gate on validation; "
            "evaluated on the test split and gated again (above)"
        )
    else:
        console.print(f"[yellow]remedy: {status}[/] ({record.get('why', '')})")
    for trial in record.get("infeasible", [])[:5]:
        console.print(f"  trial {trial['number']}: {'; '.join(trial['failed'])}", highlight=False)


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        project: ProjectOpt = Path("."),
        resume: Annotated[
            str | None, typer.Option(help="Continue this pipeline run, skipping finished stages.")
        ] = None,
        remedy: RemedyOpt = False,
        remedy_trials: RemedyTrialsOpt = 4,
        remedy_minutes: RemedyMinutesOpt = None,
        set_: SetOpt = None,
        json_: JsonOpt = False,
        debug: DebugOpt = False,
    ) -> None:
        """The whole workflow: baseline -> data -> train -> eval -> gate -> report. Exit 1 if the gate fails."""
        set_debug(debug)
        summary = _run(project, set_ or [], resume, json_, remedy=remedy, trials=remedy_trials, minutes=remedy_minutes)
        if summary.get("gate_passed") is False:
            raise typer.Exit(1)

    @app.command("demo")
    def demo(
        quick: Annotated[bool, typer.Option(help="A smaller run of every stage (used by the tests).")] = False,
        directory: Annotated[Path, typer.Option("--dir", help="Where to put the demo project.")] = Path(
            "tunesmith-demo"
        ),
        remedy: RemedyOpt = True,
        remedy_trials: RemedyTrialsOpt = 3,
        remedy_minutes: RemedyMinutesOpt = None,
        set_: SetOpt = None,
        json_: JsonOpt = False,
        debug: DebugOpt = False,
    ) -> None:
        """Run the whole workflow on the bundled example (Northwind Outfitters support replies) and promote the
        model when it passes the gate. Exit 0 when the workflow completed, whatever the gate decided."""
        set_debug(debug)
        from tunesmith.demo import QUICK_OVERRIDES, prepare_demo

        target = prepare_demo(directory)
        console.print(f"demo project: {target.resolve()}")
        overrides = (QUICK_OVERRIDES if quick else []) + (set_ or [])
        summary = _run(
            target, overrides, None, json_, remedy=remedy, trials=remedy_trials, minutes=remedy_minutes, promote=True
        )
        if summary.get("gate_passed") is False:
            # the demo shows the workflow: a failed gate is one of its results, not an error of the command
            console.print(
                "[yellow]the gate failed: gate.json says which check and why (`tunesmith run` exits 1 here)[/]"
            )
