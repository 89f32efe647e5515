"""`tunesmith tune`: hyperparameter search from validation feedback."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tunesmith.cli.common import DebugOpt, JsonOpt, ProjectOpt, SetOpt, emit, load, set_debug
from tunesmith.core.progress import console


def register(app: typer.Typer) -> None:
    @app.command("tune")
    def tune(
        trials: Annotated[
            int | None, typer.Option(help="Trials in the study, all workers together (default: tune.trials).")
        ] = None,
        study: Annotated[str | None, typer.Option(help="Study name (default: tune.study or the project name).")] = None,
        storage: Annotated[
            str | None, typer.Option(help="Optuna storage URL, e.g. postgresql://... to share a study between workers.")
        ] = None,
        data: Annotated[
            str | None, typer.Option(help="Data run to train and validate on (default: the latest).")
        ] = None,
        project: ProjectOpt = Path("."),
        set_: SetOpt = None,
        json_: JsonOpt = False,
        debug: DebugOpt = False,
    ) -> None:
        """Search the training settings in `tune.search_space`, scoring each trial's fine-tune on the validation
        split (never the test split), pruning poor trials early. Run it on several machines with one --storage
        and --study to share the work."""
        set_debug(debug)

        from tunesmith.core.rundir import RunDir
        from tunesmith.registry.runs import resolve_run, runs_root
        from tunesmith.registry.tracking import log_quietly, open_tracker
        from tunesmith.tune.run import run as run_tune

        loaded = load(project, set_)
        config = loaded.config
        cfg = config.tune
        updates = {k: v for k, v in {"trials": trials, "study": study, "storage": storage}.items() if v is not None}
        cfg = cfg.updated(where="tunesmith tune", **updates)
        data_run = resolve_run(loaded.dir, data, "data")
        run_dir = RunDir.create(runs_root(loaded.dir), "tune", cfg.model_dump(mode="json"))
        summary = run_dir.record(
            lambda: run_tune(
                cfg,
                train=config.train,
                base=config.base_model,
                eval_cfg=config.eval,
                knowledge=config.knowledge,
                gates=config.gates,
                tracking=config.tracking,
                project_name=config.name,
                project_dir=loaded.dir,
                data_run=data_run,
                run_dir=run_dir,
            ),
            keep=lambda key: key != "trials",
        )
        log_quietly(lambda: open_tracker(config.tracking, loaded.dir, config.name), run_dir)
        _print(summary)
        emit(run_dir.root, summary, json_)


def _print(summary: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"study {summary['study']}: {summary['metric']} on the validation split")
    for column in ("trial", "state", "value", "meets the gate", "params"):
        table.add_column(column)
    best = (summary.get("best") or {}).get("number")
    for t in summary["trials"]:
        value = "" if t["value"] is None else f"{t['value']:.4f}"
        label = f"{t['number']}{' (default)' if t['default'] else ''}"
        gate = "" if "feasible" not in t else ("yes" if t["feasible"] else "no: " + "; ".join(t["failed"]))
        style = "bold green" if t["number"] == best else ""
        table.add_row(label, t["state"], value, gate, json.dumps(t["params"]), style=style)
    console.print(table)
    if summary.get("no_feasible"):
        console.print(f"[yellow]{summary['no_feasible']}[/]")
    if summary.get("pareto"):
        console.print(f"Pareto front: trials {[p['number'] for p in summary['pareto']]}", highlight=False)
    if summary.get("importances"):
        console.print(f"importances: {summary['importances']}", highlight=False)
    diff = summary.get("best_vs_default")
    if diff:
        d = diff["diff"]
        console.print(
            f"best vs default (trial {diff['default_trial']}): {d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]",
            highlight=False,
        )
    sys.stdout.flush()
