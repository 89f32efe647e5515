"""`tunesmith promote`, `tunesmith lineage` and `tunesmith registry ...`: the model registry on MLflow."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from tunesmith.cli.common import DebugOpt, JsonOpt, ProjectOpt, SetOpt, load, set_debug
from tunesmith.core.progress import console

# what a command was asked for goes to stdout (pipe it); progress and warnings go to stderr
out = Console(soft_wrap=True)

app = typer.Typer(no_args_is_help=True, help="The model registry: versions, their gates, the MLflow UI.")

ModelArg = Annotated[
    str | None,
    typer.Argument(help="NAME, NAME:VERSION, NAME@ALIAS, a version number or @ALIAS; default: the newest version."),
]


def _tracker(project: Path, set_: list[str] | None) -> tuple[Any, Any]:
    from tunesmith.core.errors import ConfigError
    from tunesmith.registry.tracking import Tracker

    loaded = load(project, set_)
    if not loaded.config.tracking.enabled:
        raise ConfigError(
            "tracking is turned off for this project",
            where=loaded.where("tracking", "enabled"),
            fix="Set tracking.enabled: true (the registry lives in the same MLflow store).",
        )
    return loaded, Tracker(loaded.config.tracking, loaded.dir, loaded.config.name)


def register(root: typer.Typer) -> None:
    @root.command("promote")
    def promote(
        model: ModelArg = None,
        alias: Annotated[str, typer.Option("--alias", help="The alias to move.")] = "production",
        project: ProjectOpt = Path("."),
        set_: SetOpt = None,
        json_: JsonOpt = False,
        debug: DebugOpt = False,
    ) -> None:
        """Point an alias (default: production) at a model version, only if that version passed its gate."""
        set_debug(debug)
        from tunesmith.registry.models import parse_ref
        from tunesmith.registry.models import promote as do_promote

        _, tracker = _tracker(project, set_)
        moved = do_promote(tracker, parse_ref(model, tracker.model_name), alias)
        if json_:
            sys.stdout.write(json.dumps(moved, indent=2) + "\n")
            return
        before = f" (was version {moved['previous']})" if moved["previous"] else ""
        out.print(f"[green]{moved['model']}@{alias}[/] -> version {moved['version']}{before}")

    @root.command("lineage")
    def lineage(
        model: ModelArg = None,
        project: ProjectOpt = Path("."),
        set_: SetOpt = None,
        json_: JsonOpt = False,
        debug: DebugOpt = False,
    ) -> None:
        """Print where a model version came from: source files -> dataset -> training -> evaluation -> gate -> deployment."""
        set_debug(debug)
        from tunesmith.registry.lineage import lineage as build
        from tunesmith.registry.lineage import lineage_lines, to_json
        from tunesmith.registry.models import parse_ref

        loaded, tracker = _tracker(project, set_)
        chain = build(tracker, parse_ref(model, tracker.model_name), loaded.dir)
        if json_:
            sys.stdout.write(to_json(chain) + "\n")
            return
        for depth, text in lineage_lines(chain):
            out.print(("   " * (depth - 1) + "└─ " if depth else "") + text, highlight=False)
        if chain["missing_run_folders"]:
            console.print(
                f"[yellow]run folders not found here:[/] {', '.join(chain['missing_run_folders'])} "
                "(the registry's tags still name them)"
            )

    root.add_typer(app, name="registry")


@app.command("list")
def list_versions(
    project: ProjectOpt = Path("."),
    set_: SetOpt = None,
    json_: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Every registered version of the project's model: gate verdict, aliases, primary metric."""
    set_debug(debug)
    from rich.table import Table

    _, tracker = _tracker(project, set_)
    versions = sorted(
        tracker.client.search_model_versions(f"name = '{tracker.model_name}'"), key=lambda v: int(v.version)
    )
    aliases: dict[str, list[str]] = {}
    if versions:
        for alias, number in (tracker.client.get_registered_model(tracker.model_name).aliases or {}).items():
            aliases.setdefault(str(number), []).append(alias)
    rows = [
        {
            "version": str(v.version),
            "gate": v.tags.get("tunesmith.gate", "?"),
            "aliases": sorted(aliases.get(str(v.version), [])),
            "train_run": v.tags.get("tunesmith.train_run"),
            "metric": next(
                (f"{k.split('.')[-1]} {val}" for k, val in v.tags.items() if k.startswith("tunesmith.finetuned.")), ""
            ),
            "created": v.creation_timestamp,
        }
        for v in versions
    ]
    if json_:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table(title=f"{tracker.model_name} ({tracker.uri})")
    for column in ("version", "gate", "aliases", "training run", "fine-tuned"):
        table.add_column(column, overflow="fold")
    for row in rows:
        gate = "[green]passed[/]" if row["gate"] == "passed" else f"[red]{row['gate']}[/]"
        table.add_row(
            row["version"], gate, ", ".join("@" + a for a in row["aliases"]), row["train_run"] or "", row["metric"]
        )
    out.print(table)


@app.command("card")
def card(
    model: ModelArg = None,
    project: ProjectOpt = Path("."),
    set_: SetOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Print a version's model card (Markdown)."""
    set_debug(debug)
    from tunesmith.registry.models import parse_ref, resolve

    _, tracker = _tracker(project, set_)
    version = resolve(tracker, parse_ref(model, tracker.model_name))
    sys.stdout.write((version.description or "(no model card)") + "\n")


@app.command("sync")
def sync(
    project: ProjectOpt = Path("."),
    set_: SetOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Log every finished run folder the MLflow store does not have yet (after the server was unreachable)."""
    set_debug(debug)
    from tunesmith.registry.runs import list_runs
    from tunesmith.train.layout import trained_weights

    loaded, tracker = _tracker(project, set_)
    logged = 0
    for run in list_runs(loaded.dir):
        if run.status in ("running",) or tracker.mlflow_run_id(run) is not None:
            continue
        tracker.log_run(run, weights=trained_weights(run) if run.stage == "train" else None)
        logged += 1
    console.print(f"logged {logged} run(s) to {tracker.uri}")


@app.command("ui")
def ui(
    port: Annotated[int, typer.Option("--port", help="Port of the MLflow UI.")] = 5000,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    project: ProjectOpt = Path("."),
    set_: SetOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Start the MLflow UI on the project's store (runs, metrics, versions, aliases, model cards)."""
    set_debug(debug)
    import subprocess

    from tunesmith.registry.tracking import STORE_FOLDER, is_local_store

    loaded, tracker = _tracker(project, set_)
    if not is_local_store(tracker.uri):
        console.print(f"this project tracks to {tracker.uri}: open that server's UI")
        return
    artifacts = (loaded.dir / STORE_FOLDER / "artifacts").resolve().as_uri()
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        tracker.uri,
        "--default-artifact-root",
        artifacts,
        "--host",
        host,
        "--port",
        str(port),
    ]
    console.print(f"MLflow UI on http://{host}:{port} (Ctrl-C stops it)")
    raise typer.Exit(subprocess.call(command))
