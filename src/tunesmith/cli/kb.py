"""`tunesmith kb ingest|search`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from tunesmith.cli.common import DebugOpt, JsonOpt, ProjectOpt, SetOpt, load, set_debug
from tunesmith.core.progress import console

app = typer.Typer(help="The knowledge base: index documents and search them.", no_args_is_help=True)


@app.command("ingest")
def ingest(
    project: ProjectOpt = Path("."), set_: SetOpt = None, json_: JsonOpt = False, debug: DebugOpt = False
) -> None:
    """Index the knowledge base (incremental: unchanged files are skipped, removed files dropped)."""
    set_debug(debug)
    from tunesmith.knowledge.ingest import ingest as run_ingest

    loaded = load(project, set_)
    report = run_ingest(loaded.config.knowledge, loaded.dir)
    if json_:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
        return
    console.print(
        f"{report.documents} documents, {report.chunks} chunks: {len(report.added)} added, "
        f"{len(report.changed)} changed, {len(report.removed)} removed, {len(report.unchanged)} unchanged"
    )
    for path, reason in report.failed.items():
        console.print(f"[yellow]skipped {path}: {reason}[/]")


@app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option("-k", help="Number of chunks.")] = 5,
    project: ProjectOpt = Path("."),
    json_: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Hybrid search (dense + BM25, rank fusion): ranked chunks with source and heading path."""
    set_debug(debug)
    from tunesmith.knowledge.ingest import index_dir
    from tunesmith.knowledge.retrieve import Retriever

    loaded = load(project, None)
    hits = Retriever.open(index_dir(loaded.dir, loaded.config.knowledge.name)).search(query, k=k)
    if json_:
        sys.stdout.write(json.dumps([{**h.citation(), "text": h.chunk.text} for h in hits], indent=2) + "\n")
        return
    for rank, hit in enumerate(hits, 1):
        console.print(f"[bold]{rank}. {hit.chunk.doc}[/] > {hit.chunk.heading}  [dim]score {hit.score:.4f}[/]")
        console.print("   " + hit.chunk.text.strip().replace("\n", "\n   "), markup=False, highlight=False)
