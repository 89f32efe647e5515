"""`tunesmith baseline`."""

from __future__ import annotations

from pathlib import Path

import typer

from tunesmith.cli.common import DebugOpt, JsonOpt, ProjectOpt, SetOpt, emit, load, set_debug
from tunesmith.core.progress import console


def register(app: typer.Typer) -> None:
    @app.command("baseline")
    def baseline(
        project: ProjectOpt = Path("."), set_: SetOpt = None, json_: JsonOpt = False, debug: DebugOpt = False
    ) -> None:
        """Prompt the candidate models with each prompt template on the validation split and pick the baseline."""
        set_debug(debug)
        from rich.table import Table

        from tunesmith.pipeline import Context, execute

        loaded = load(project, set_)
        run_dir = execute(Context.for_project(loaded), "baseline")
        summary = run_dir.info["summary"]
        table = Table(title=f"baseline leaderboard ({loaded.config.eval.primary}, validation split)")
        for column in ("model", "template", "score", "prompt tokens", "s / request"):
            table.add_column(column, justify="right" if column not in ("model", "template") else "left")
        for entry in summary["leaderboard"]:
            chosen = entry["model"] == summary["model"] and entry["template"] == summary["template"]
            s = entry["score"]
            table.add_row(
                entry["model"],
                entry["template"] + (" *" if chosen else ""),
                f"{s['mean']:.4f} [{s['low']:.3f}, {s['high']:.3f}]",
                f"{entry['prompt_tokens']:.0f}",
                f"{entry['seconds_per_request']:.2f}",
                style="bold" if chosen else "",
            )
        console.print(table)
        console.print(f"baseline: {summary['model']} / {summary['template']}")
        emit(run_dir.root, summary, json_)
