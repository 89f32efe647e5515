"""What every command shares: --project, --set, --json, --debug, and how results are printed."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tunesmith.core.progress import console

ProjectOpt = Annotated[
    Path, typer.Option("--project", "-p", help="Project folder (holds tunesmith.yaml). Default: the current folder.")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a project setting for this run, e.g. --set train.epochs=2 (repeatable)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the JSON summary on stdout instead of the run folder.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")]

DEBUG = {"on": False}


def set_debug(flag: bool) -> None:
    DEBUG["on"] = DEBUG["on"] or flag


def load(project: Path, overrides: list[str] | None) -> Any:
    from tunesmith.project import load_project

    return load_project(project, overrides or [])


def emit(run_dir: Path, summary: dict[str, Any] | None, as_json: bool) -> None:
    """The last thing on stdout: the run folder, or the JSON summary with --json."""
    if as_json:
        sys.stdout.write(json.dumps(summary or {}, indent=2, ensure_ascii=False, default=str) + "\n")
    else:
        sys.stdout.write(f"{run_dir}\n")
    sys.stdout.flush()


def print_grid(summary: dict[str, Any]) -> None:
    """The closing table: every system's primary metric with its interval, and the gate decision."""
    from rich.table import Table

    primary = summary.get("primary", "")
    systems = summary.get("systems") or {}
    if systems:
        table = Table(title=f"{primary} on {summary.get('test_examples', '?')} held-out examples (95% CI)")
        table.add_column("system")
        table.add_column(primary, justify="right")
        table.add_column("interval", justify="right")
        best = max(systems, key=lambda s: systems[s]["mean"])
        for name, interval in systems.items():
            style = "bold green" if name == best else ""
            table.add_row(
                name, f"{interval['mean']:.4f}", f"[{interval['low']:.4f}, {interval['high']:.4f}]", style=style
            )
        console.print(table)
    head = summary.get("finetuned_vs_baseline")
    if head:
        d = head["diff"]
        verdict = "real (interval excludes 0)" if head["real"] else "not resolved at this sample size"
        console.print(f"fine-tuned vs baseline: {d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}] — {verdict}")
    probe = summary.get("probe")
    if probe and "finetuned_vs_base" in probe:
        acc, d = probe["accuracy"], probe["finetuned_vs_base"]["diff"]
        console.print(
            f"general skills ({probe['items']} questions): base {acc['base']['mean']:.3f}, fine-tuned "
            f"{acc['finetuned']['mean']:.3f} ({d['mean']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}])"
        )
    pairwise = summary.get("pairwise")
    if pairwise:
        for system, w in pairwise["win_rate"].items():
            console.print(
                f"judge: {system} beats {pairwise['against']} in {w['mean']:.0%} of pairs "
                f"[{w['low']:.0%}, {w['high']:.0%}]"
            )
    gate = summary.get("gate")
    if gate:
        print_gate(gate)


def print_gate(gate: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title="release gate")
    table.add_column("check")
    table.add_column("rule")
    table.add_column("result")
    table.add_column("measured")
    for check in gate["checks"]:
        measured = check["reason"]
        if check.get("evidence"):
            measured += f" [dim]({check['evidence']})[/]"
        table.add_row(check["name"], check["rule"], "[green]pass[/]" if check["passed"] else "[red]fail[/]", measured)
    console.print(table)
    console.print("[bold green]GATE PASSED[/]" if gate["passed"] else "[bold red]GATE FAILED[/]")
    registered = gate.get("registered")
    if registered:
        then = "promote it with `tunesmith promote`" if gate["passed"] else "it cannot be promoted"
        console.print(f"registered {registered['model']} version {registered['version']}; {then}")
