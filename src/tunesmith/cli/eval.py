"""`tunesmith eval`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tunesmith.cli.common import DebugOpt, JsonOpt, ProjectOpt, SetOpt, emit, load, print_grid, set_debug


def register(app: typer.Typer) -> None:
    @app.command("eval")
    def evaluate(
        project: ProjectOpt = Path("."),
        data: Annotated[str | None, typer.Option(help="Data run with the test split (default: the latest).")] = None,
        train: Annotated[str | None, typer.Option(help="Training run with the adapter (default: the latest).")] = None,
        baseline: Annotated[str | None, typer.Option(help="Baseline run (default: the latest).")] = None,
        set_: SetOpt = None,
        json_: JsonOpt = False,
        debug: DebugOpt = False,
    ) -> None:
        """Compare baseline, base and fine-tuned models, each with and without retrieval, on the test split."""
        set_debug(debug)
        from tunesmith.pipeline import Context, execute

        loaded = load(project, set_)
        run_dir = execute(Context.for_project(loaded), "eval", data_ref=data, train_ref=train, baseline_ref=baseline)
        summary = run_dir.read_json("summary.json")
        primary = summary["primary"]
        grid = {
            "primary": primary,
            "test_examples": summary["test_examples"],
            "systems": {s: m[primary] for s, m in summary["systems"].items()},
            "finetuned_vs_baseline": summary.get("finetuned_vs_baseline"),
            "run_dir": str(run_dir.root),
        }
        print_grid(grid)
        emit(run_dir.root, {**summary, "run_dir": str(run_dir.root)}, json_)
