"""`tunesmith kb ingest|search|eval`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tunesmith.cli.common import DebugOpt, JsonOpt, ProjectOpt, SetOpt, load, set_debug
from tunesmith.core.progress import console

if TYPE_CHECKING:
    from tunesmith.knowledge.config import KnowledgeConfig

app = typer.Typer(help="The knowledge base: index documents, search them, measure retrieval.", no_args_is_help=True)

KbOpt = Annotated[
    str | None, typer.Option("--kb", help="Index name (default: knowledge.name from the project file, or 'default').")
]


def _knowledge(project: Path, overrides: list[str] | None) -> tuple[KnowledgeConfig, Path]:
    """The project's knowledge settings; the defaults when the folder has no project file."""
    from tunesmith.knowledge.config import KnowledgeConfig
    from tunesmith.project import PROJECT_FILE

    folder = project.resolve()
    if folder.is_dir() and not (folder / PROJECT_FILE).exists() and not overrides:
        return KnowledgeConfig(), folder
    loaded = load(project, overrides)
    return loaded.config.knowledge, loaded.dir


@app.command("ingest")
def ingest(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Files or folders to add (default: knowledge.paths; then files gone from them are removed)."
        ),
    ] = None,
    kb: KbOpt = None,
    include: Annotated[list[str] | None, typer.Option("--include", help="Glob of files to take (repeatable).")] = None,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="Glob of files to skip (repeatable).")] = None,
    text_field: Annotated[
        str | None, typer.Option("--text-field", help="For CSV/JSON records: the field with the text.")
    ] = None,
    title_field: Annotated[str | None, typer.Option("--title-field", help="For records: the heading field.")] = None,
    id_field: Annotated[str | None, typer.Option("--id-field", help="For records: the field cited as file#id.")] = None,
    project: ProjectOpt = Path("."),
    set_: SetOpt = None,
    json_: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Index documents (Markdown, text, reST, HTML, PDF, DOCX, CSV/JSON records); incremental by content hash."""
    set_debug(debug)
    from tunesmith.knowledge.config import RecordsConfig
    from tunesmith.knowledge.ingest import ingest as run_ingest

    cfg, folder = _knowledge(project, set_)
    updates: dict[str, object] = {}
    if include:
        updates["include"] = include
    if exclude:
        updates["exclude"] = exclude
    if text_field:
        updates["records"] = RecordsConfig(text_field=text_field, title_field=title_field, id_field=id_field)
    if updates:
        cfg = cfg.model_copy(update=updates)
    given = [str(p.resolve()) for p in paths] if paths else None
    report = run_ingest(cfg, folder, paths=given, name=kb)
    if json_:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        console.print(
            f"{report.files} files, {report.documents} documents, {report.chunks} chunks: "
            f"{len(report.added)} added, {len(report.changed)} changed, {len(report.removed)} removed, "
            f"{len(report.unchanged)} unchanged" + (" (settings changed: rebuilt)" if report.rebuilt else "")
        )
        for path, reason in report.failed.items():
            console.print(f"[yellow]skipped {path}: {reason}[/]", markup=True, highlight=False)


@app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option("-k", help="Number of chunks.", min=1, max=100)] = 5,
    source: Annotated[str | None, typer.Option("--source", help="Only sources matching this glob.")] = None,
    heading: Annotated[str | None, typer.Option("--heading", help="Only chunks whose heading contains this.")] = None,
    mode: Annotated[str, typer.Option("--mode", help="hybrid, dense or keyword.")] = "hybrid",
    kb: KbOpt = None,
    project: ProjectOpt = Path("."),
    set_: SetOpt = None,
    json_: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Hybrid search (dense + keyword, rank fusion, optional reranker): ranked chunks with source and headings."""
    set_debug(debug)
    from tunesmith.core.errors import ConfigError
    from tunesmith.knowledge.retrieve import Retriever
    from tunesmith.knowledge.store import Filters

    if mode not in ("hybrid", "dense", "keyword"):
        raise ConfigError(f"unknown mode '{mode}'", where="--mode", fix="Use hybrid, dense or keyword.")
    cfg, folder = _knowledge(project, set_)
    retriever = Retriever.open(cfg, folder, kb)
    hits = retriever.search(query, k=k, filters=Filters(source, heading), mode=mode)  # type: ignore[arg-type]
    if json_:
        sys.stdout.write(json.dumps([{**h.citation(), "text": h.chunk.text} for h in hits], indent=2) + "\n")
        return
    if not hits:
        console.print("no matching chunks")
    for rank, hit in enumerate(hits, 1):
        where = f"{hit.chunk.doc} > {hit.chunk.heading}" if hit.chunk.heading else hit.chunk.doc
        console.print(f"[bold]{rank}. {where}[/]  [dim]score {hit.score:.4f} · {hit.chunk.id}[/]", highlight=False)
        console.print("   " + hit.chunk.text.strip().replace("\n", "\n   "), markup=False, highlight=False)


@app.command("eval")
def evaluate(
    queries: Annotated[Path, typer.Argument(help='JSONL of {"query": ..., "source": ...} (or "sources": [...]).')],
    kb: KbOpt = None,
    project: ProjectOpt = Path("."),
    set_: SetOpt = None,
    json_: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Recall@k and MRR of every retrieval mode against labelled queries (95% bootstrap intervals)."""
    set_debug(debug)
    from rich.table import Table

    from tunesmith.knowledge.evaluate import KS, evaluate, read_queries
    from tunesmith.knowledge.retrieve import Retriever

    labelled = read_queries(queries)
    cfg, folder = _knowledge(project, set_)
    result = evaluate(Retriever.open(cfg, folder, kb), labelled)
    if json_:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    table = Table(title=f"retrieval on {result['queries']} labelled queries (mean ± half the 95% CI)")
    table.add_column("mode")
    metrics = [f"recall@{k}" for k in KS] + [f"mrr@{max(KS)}"]
    for metric in metrics:
        table.add_column(metric, justify="right")
    for mode, scores in result["modes"].items():
        cells = [f"{scores[m]['mean']:.3f} ±{(scores[m]['high'] - scores[m]['low']) / 2:.2f}" for m in metrics]
        table.add_row(mode, *cells)
    console.print(table)
    misses = result["misses"].get("hybrid") or []
    for miss in misses[:10]:
        console.print(f"[yellow]missed[/] {queries}:{miss['line']} {miss['query']!r} -> {miss['top'][:1]}")
