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

    from tunesmith.core.rundir import RunDir
    from tunesmith.data.golden import read_golden
    from tunesmith.registry.runs import find_unfinished, runs_root
    from tunesmith.registry.tracking import log_quietly, open_tracker
    from tunesmith.synth.config import QAConfig
    from tunesmith.synth.qa_stage import run as run_stage

    loaded = load(project, set_)
    config = loaded.config
    resumed = find_unfinished(loaded.dir, "synth", run) if resume else None
    if resumed is not None:
        cfg = resumed.config(QAConfig)  # a resumed run keeps the settings it started with
    else:
        cfg = (config.data.kb_qa or QAConfig()).updated(
            where="--chunks", **({"chunks": chunks} if chunks is not None else {})
        )
    run_dir = RunDir.begin(runs_root(loaded.dir), "synth", cfg.model_dump(mode="json"), resume=resumed)
    existing = [r.input for r in read_golden(config.data.golden, loaded.dir)[0]] if config.data.golden else []
    stats = run_dir.record(
        lambda: run_stage(
            cfg,
            knowledge=config.knowledge,
            system_prompt=config.system_prompt or None,
            base_model=config.base_model,
            existing_inputs=existing,
            project_dir=loaded.dir,
            run_dir=run_dir,
        )
    )
    log_quietly(lambda: open_tracker(config.tracking, loaded.dir, config.name), run_dir)
    console.print(
        f"{stats['examples']} examples and {stats['preference_pairs']} preference pairs from {stats['chunks']} "
        f"chunks; rejected {sum(stats['rejected'].values())} (see rejects.jsonl)"
        + (f"; resumed {stats['journal_resumed']} finished generations" if stats["journal_resumed"] else "")
    )
    emit(run_dir.root, stats, json_)
