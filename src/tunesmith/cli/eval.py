"""`tunesmith eval`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tunesmith.cli.common import DebugOpt, JsonOpt, ProjectOpt, SetOpt, emit, load, print_grid, set_debug

eval_app = typer.Typer(
    help="Evaluate: the fine-tune x RAG grid, or compare past evaluations.",
    invoke_without_command=True,
    no_args_is_help=False,
)


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")

    @eval_app.command("compare")
    def compare(
        runs: Annotated[
            list[str], typer.Argument(help="Evaluation runs (or pipeline runs) to compare; the first is the reference.")
        ],
        metric: Annotated[str | None, typer.Option(help="Metric to compare (default: eval.primary).")] = None,
        project: ProjectOpt = Path("."),
        json_: JsonOpt = False,
        debug: DebugOpt = False,
    ) -> None:
        """Compare past evaluation runs, paired on the examples they share."""
        set_debug(debug)
        import json
        import sys

        from rich.table import Table

        from tunesmith.core.progress import console
        from tunesmith.eval.compare import compare_runs, eval_runs

        loaded = load(project, None)
        result = compare_runs(eval_runs(runs, loaded.dir), metric or loaded.config.eval.primary)
        if json_:
            sys.stdout.write(json.dumps(result, indent=2) + "\n")
            return
        table = Table(title=f"{result['metric']} (paired differences against {result['reference']})")
        for column in ("run", "system", "mean [95% CI]", "vs first [95% CI]", "paired test", "Holm p", "shared"):
            table.add_column(column)
        for e in result["entries"]:
            vs = e.get("vs_first")
            diff = (
                (
                    f"{vs['diff']['mean']:+.4f} [{vs['diff']['low']:+.4f}, {vs['diff']['high']:+.4f}]"
                    f"{' real' if vs['real'] else ''}"
                )
                if vs
                else "-"
            )
            table.add_row(
                e["run"],
                e["system"],
                f"{e['mean']:.4f} [{e['low']:.4f}, {e['high']:.4f}]",
                diff,
                f"{vs['test']} p={vs['test_p']:.3g}" if vs else "-",
                f"{vs['holm_p']:.3g}{' significant' if vs['significant'] else ''}" if vs else "-",
                str(vs["shared_examples"]) if vs else "-",
            )
        console.print(table)

    @eval_app.callback()
    def evaluate(
        ctx: typer.Context,
        project: ProjectOpt = Path("."),
        data: Annotated[str | None, typer.Option(help="Data run with the test split (default: the latest).")] = None,
        train: Annotated[str | None, typer.Option(help="Training run with the adapter (default: the latest).")] = None,
        baseline: Annotated[str | None, typer.Option(help="Baseline run (default: the latest).")] = None,
        set_: SetOpt = None,
        json_: JsonOpt = False,
        debug: DebugOpt = False,
    ) -> None:
        """Compare baseline, base and fine-tuned models, each with and without retrieval, on the test split."""
        if ctx.invoked_subcommand is not None:
            return
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
            "probe": summary.get("probe"),
            "pairwise": summary.get("pairwise"),
            "run_dir": str(run_dir.root),
        }
        print_grid(grid)
        emit(run_dir.root, {**summary, "run_dir": str(run_dir.root)}, json_)
