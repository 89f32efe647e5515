"""`tunesmith synth qa`: training data written by a teacher from the knowledge base."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tunesmith.cli.common import DebugOpt, JsonOpt, ProjectOpt, SetOpt, emit, load, set_debug
from tunesmith.core.progress import console

app = typer.Typer(
    help="Synthetic data from the knowledge base (golden-output pairs are built by `tunesmith data build`).",
    no_args_is_help=True,
)


@app.command("qa")
def qa(
    chunks: Annotated[int | None, typer.Option(help="Chunks to sample (default: data.kb_qa.chunks).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the last unfinished synth run.")] = False,
    run: Annotated[str | None, typer.Option(help="With --resume: the run to continue (id or folder).")] = None,
    project: ProjectOpt = Path("."),
    set_: SetOpt = None,
    json_: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Questions and grounded answers from knowledge-base chunks, with a groundedness check and dedup;
    preference pairs (grounded vs. without context). Settings: `data.kb_qa` in the project file."""
    set_debug(debug)

    from tunesmith.core.errors import StageError
    from tunesmith.core.rundir import RunDir
    from tunesmith.registry.runs import list_runs, runs_root
    from tunesmith.registry.tracking import log_quietly, open_tracker
    from tunesmith.synth.config import QAConfig
    from tunesmith.synth.qa_stage import run as run_stage

    loaded = load(project, set_)
    if resume:
        runs = [r for r in list_runs(loaded.dir, "synth") if run is None or run in (r.id, str(r.root))]
        runs = [r for r in runs if r.status in ("failed", "interrupted")] if run is None else runs
        if not runs:
            raise StageError(
                "no unfinished synth run to resume", where="runs/", fix="Start one with `tunesmith synth qa`."
            )
        run_dir = runs[-1]
        import yaml

        cfg = QAConfig.model_validate(yaml.safe_load(run_dir.path("config.yaml").read_text(encoding="utf-8")))
        run_dir.restart()
    else:
        cfg = loaded.config.data.kb_qa or QAConfig()
        if chunks is not None:
            cfg = cfg.model_copy(update={"chunks": chunks})
        run_dir = RunDir.create(runs_root(loaded.dir), "synth", cfg.model_dump(mode="json"))
    stats = run_dir.record(lambda: run_stage(cfg, project=loaded, run_dir=run_dir))
    tracking = loaded.config.tracking
    log_quietly(lambda: open_tracker(tracking, loaded.dir, loaded.config.name), run_dir)
    console.print(
        f"{stats['examples']} examples and {stats['preference_pairs']} preference pairs from {stats['chunks']} "
        f"chunks; rejected {sum(stats['rejected'].values())} (see rejects.jsonl)"
        + (f"; resumed {stats['journal_resumed']} finished generations" if stats["journal_resumed"] else "")
    )
    emit(run_dir.root, stats, json_)
