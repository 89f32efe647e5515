"""`tunesmith data build|validate|clean|convert|stats|preview`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tunesmith.cli.common import DebugOpt, JsonOpt, ProjectOpt, SetOpt, emit, load, set_debug
from tunesmith.core.progress import console

app = typer.Typer(help="Build, validate, clean and inspect training data.", no_args_is_help=True)

FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="Force a format: openai-chat, openai-preference, prompt-completion, alpaca, "
        "sharegpt, csv, tsv, parquet, hf-disk (detected from the content by default).",
    ),
]
ColumnsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--column",
        help="For tables: FIELD=COLUMN, e.g. --column input=question --column output=answer "
        "(fields: input, output, system, id, messages, chosen, rejected).",
    ),
]
ModelOpt = Annotated[
    str | None, typer.Option(help="Model whose tokenizer and chat template to use (default: the project's base).")
]


def _columns(items: list[str] | None) -> dict[str, str] | None:
    from tunesmith.core.errors import ConfigError
    from tunesmith.data.formats.read import MAPPABLE

    if not items:
        return None
    mapping = {}
    for item in items:
        field, _, column = item.partition("=")
        if not column or field not in MAPPABLE:
            raise ConfigError(
                f"--column {item!r} is not FIELD=COLUMN", where="--column", fix=f"Fields: {', '.join(MAPPABLE)}."
            )
        mapping[field] = column
    return mapping


def _tokenizer(model: str | None, project: Path) -> Any:
    """The tokenizer of --model, else of the project's base model, else of the default model."""
    from tunesmith.core.errors import ModelSourceError
    from tunesmith.models.local import load_tokenizer
    from tunesmith.models.resolve import DEFAULT_MODEL, local_path
    from tunesmith.models.spec import LocalModelRef, parse_model_ref

    if model is None:
        if (project / "tunesmith.yaml").is_file():
            ref = load(project, None).config.base_model
        else:
            ref = LocalModelRef(id=DEFAULT_MODEL)
    else:
        parsed = parse_model_ref(model)
        if not isinstance(parsed, LocalModelRef):
            raise ModelSourceError("--model needs a local model (its tokenizer renders the chat template)")
        ref = parsed
    return load_tokenizer(local_path(ref, project), revision=ref.revision, trust_remote_code=ref.trust_remote_code)


def _files_or_latest(files: list[Path] | None, project: Path, split: str) -> list[Path]:
    if files:
        return files
    from tunesmith.registry.runs import resolve_run

    return [resolve_run(project.resolve(), None, "data").path(f"{split}.jsonl")]


@app.command("build")
def build(
    project: ProjectOpt = Path("."), set_: SetOpt = None, json_: JsonOpt = False, debug: DebugOpt = False
) -> None:
    """Golden outputs + knowledge base (+ data.sources) -> validated, cleaned, split chat data."""
    set_debug(debug)
    from tunesmith.pipeline import Context, execute

    run_dir = execute(Context.for_project(load(project, set_)), "data")
    summary = run_dir.info["summary"]
    counts = summary["examples"]
    console.print(
        f"dataset {summary['version']}: train {counts['train']}, val {counts['val']}, test {counts['test']}"
        f"; removed {sum(summary['rejected'].values())} (see rejects.jsonl)"
    )
    emit(run_dir.root, summary, json_)


@app.command("validate")
def validate(
    files: Annotated[list[Path], typer.Argument(help="Data files or saved datasets, in any supported format.")],
    model: Annotated[
        str | None, typer.Option(help="Check lengths with this model's tokenizer and chat template.")
    ] = None,
    max_tokens: Annotated[int, typer.Option(help="Longest allowed example in tokens (with --model).")] = 4096,
    format_: FormatOpt = None,
    column: ColumnsOpt = None,
    json_: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Check data before training: each problem with file, line and field. Exit 0 clean, 1 problems, 2 unusable."""
    set_debug(debug)
    from tunesmith.data.validate import validate_files

    count = None
    if model:
        from tunesmith.data.template import count_chat_tokens

        tokenizer = _tokenizer(model, Path("."))

        def count(messages: list[dict[str, object]], tools: object = None) -> int:
            return count_chat_tokens(tokenizer, messages, tools)  # type: ignore[arg-type]

    report = validate_files(
        files, format=format_, columns=_columns(column), count_tokens=count, max_tokens=max_tokens if model else None
    )
    if json_:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        from rich.markup import escape

        for problem in report.problems:
            colour = "red" if problem.severity == "error" else "yellow"
            console.print(f"[{colour}]{escape(problem.render())}[/]", highlight=False, soft_wrap=True)
        verdict = "unusable" if report.unusable else ("problems found" if report.errors else "clean")
        formats = ", ".join(sorted(set(report.formats.values()))) or "?"
        console.print(
            f"{report.examples} records ({formats}), {report.valid} usable, {len(report.errors)} errors, "
            f"{len(report.warnings)} warnings: {verdict}"
        )
    raise typer.Exit(report.exit_code)


@app.command("clean")
def clean(
    files: Annotated[list[Path], typer.Argument(help="Data files in any supported format.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Cleaned data (OpenAI JSONL).")],
    rejects: Annotated[
        Path | None,
        typer.Option(help="Removed and changed examples with reasons (default: OUTPUT with .rejects.jsonl)."),
    ] = None,
    project: ProjectOpt = Path("."),
    format_: FormatOpt = None,
    column: ColumnsOpt = None,
    set_: SetOpt = None,
    json_: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Dedup (exact and near), PII redaction, length and language filters. Every removal is written with its reason."""
    set_debug(debug)
    from rich.table import Table

    from tunesmith.core.progress import task
    from tunesmith.data.clean import clean_files
    from tunesmith.data.config import CleanConfig

    cfg = load(project, set_).config.data.clean if (project / "tunesmith.yaml").is_file() else CleanConfig()
    rejects = rejects or output.with_name(output.stem + ".rejects.jsonl")
    with task("Cleaning", None) as update:
        summary = clean_files(
            files, cfg, out=output, rejects=rejects, format=format_, columns=_columns(column), on_progress=update
        )
    result = {**summary.to_dict(), "output": str(output), "rejects": str(rejects)}
    if json_:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    table = Table(title=f"{summary.examples_in} in, {summary.examples_out} out")
    table.add_column("action")
    table.add_column("reason")
    table.add_column("examples", justify="right")
    for reason, n in sorted(summary.removed.items()):
        table.add_row("removed", reason, str(n))
    for reason, n in sorted(summary.changed.items()):
        table.add_row("changed", reason, str(n))
    console.print(table)
    if not summary.names_checked and cfg.pii != "off" and "name" in cfg.pii_kinds:
        console.print("[yellow]names were not scanned for: install spaCy with an English pipeline to enable it[/]")
    console.print(f"cleaned: {output}\nrejects: {rejects}")


@app.command("convert")
def convert(
    files: Annotated[list[Path], typer.Argument(help="Data files in any supported format.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="OpenAI chat JSONL (or DPO JSONL for pairs).")],
    format_: FormatOpt = None,
    column: ColumnsOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Convert to OpenAI's fine-tuning format; records that cannot be read are listed with their problem."""
    set_debug(debug)
    from tunesmith.data.formats.read import read_items
    from tunesmith.data.formats.write import write_openai

    problems = []
    kinds: set[str] = set()

    def examples() -> Any:
        for path in files:
            for item in read_items(path, format=format_, columns=_columns(column)):
                if item.example is None:
                    problems.append(f"{item.where}: {item.code}: {item.message}")
                    continue
                kinds.add(item.example.kind)
                yield item.example

    written = write_openai(examples(), output)
    for problem in problems:
        console.print(f"[yellow]skipped {problem}[/]", markup=True, highlight=False)
    if len(kinds) > 1:
        console.print("[yellow]warning: chat and preference records were mixed into one file[/]")
    console.print(f"wrote {written} records to {output} ({len(problems)} skipped)")
    raise typer.Exit(1 if problems else 0)


@app.command("stats")
def stats(
    files: Annotated[
        list[Path] | None, typer.Argument(help="Chat data (default: the latest data build's train split).")
    ] = None,
    project: ProjectOpt = Path("."),
    model: ModelOpt = None,
    set_: SetOpt = None,
    json_: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Token lengths under the model's chat template, trained tokens, and the training time and memory estimate."""
    set_debug(debug)
    from rich.table import Table

    from tunesmith.core.progress import task
    from tunesmith.data.formats.read import read_items
    from tunesmith.data.stats import TokenStats, histogram

    paths = _files_or_latest(files, project, "train")
    tokenizer = _tokenizer(model, project)
    token_stats = TokenStats()
    with task("Tokenizing", None) as update:
        for path in paths:
            for item in read_items(path):
                if item.example is not None:
                    token_stats.add(tokenizer, item.example.messages + (item.example.chosen or []))
                    update()
    result: dict[str, Any] = {"files": [str(p) for p in paths], **token_stats.to_dict()}
    if (project / "tunesmith.yaml").is_file() and token_stats.examples:
        result["estimate"] = _training_estimate(project, set_, token_stats)
    if json_:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    table = Table(title=f"token lengths ({token_stats.examples} examples)")
    table.add_column("tokens", justify="right")
    table.add_column("examples", justify="right")
    table.add_column("")
    for label, count, bar in histogram(token_stats.lengths):
        table.add_row(label, str(count), f"[cyan]{bar}[/]")
    console.print(table)
    console.print(
        f"total {result['total_tokens']:,} tokens, {result['trained_tokens']:,} trained; mean "
        f"{result['mean']}, p50 {result['p50']}, p90 {result['p90']}, max {result['max']}"
    )
    if "estimate" in result:
        e = result["estimate"]
        console.print(
            f"training estimate on this machine: {e['minutes']:.1f} min at ~{e['tokens_per_s']:.0f} tokens/s, "
            f"peak memory ~{e['peak_gib']:.1f} GiB ({e['assumptions']})"
        )


def _training_estimate(project: Path, overrides: list[str] | None, token_stats: Any) -> dict[str, Any]:
    from tunesmith.train.estimate import estimate_run

    loaded = load(project, overrides)
    return estimate_run(
        loaded.config.train, loaded.config.base_model, loaded.dir, token_stats.lengths, token_stats.trained
    )


@app.command("preview")
def preview(
    n: Annotated[int, typer.Argument(help="How many examples to show.")] = 3,
    files: Annotated[
        list[Path] | None, typer.Option("--file", help="Chat data (default: the latest build's train split).")
    ] = None,
    project: ProjectOpt = Path("."),
    model: ModelOpt = None,
    max_length: Annotated[
        int | None, typer.Option(help="Check truncation at this length (default: train.max_length).")
    ] = None,
    html: Annotated[Path | None, typer.Option(help="Also write an HTML page with trained tokens highlighted.")] = None,
    debug: DebugOpt = False,
) -> None:
    """Render examples through the chat template, trained tokens highlighted, and lint them. Exit 1 on lint errors."""
    set_debug(debug)
    from rich.markup import escape

    from tunesmith.data.formats.read import read_items
    from tunesmith.data.preview import render_html, stop_ids_of
    from tunesmith.data.template import lint_example

    paths = _files_or_latest(files, project, "train")
    tokenizer = _tokenizer(model, project)
    if max_length is None and (project / "tunesmith.yaml").is_file():
        max_length = load(project, None).config.train.max_length
    stop_ids = stop_ids_of(tokenizer)
    shown, errors, pages = 0, 0, []
    for path in paths:
        for item in read_items(path):
            if shown >= n:
                break
            if item.example is None:
                continue
            messages = item.example.messages + (item.example.chosen or [])
            sequences, findings = lint_example(
                tokenizer, messages, stop_ids, max_length=max_length, tools=item.example.tools
            )
            shown += 1
            console.rule(f"{item.where}  id={item.example.id}")
            sequences = sequences or []
            for turn, tokenized in enumerate(sequences, 1):
                parts = []
                for token_id, label in zip(tokenized.input_ids, tokenized.labels, strict=True):
                    piece = escape(tokenizer.decode([token_id]))
                    parts.append(f"[bold green]{piece}[/]" if label != -100 else f"[dim]{piece}[/]")
                # a template that renders earlier turns differently later trains each turn on its own
                which = f"sequence {turn} of {len(sequences)}" if len(sequences) > 1 else ""
                console.print("".join(parts), soft_wrap=True, highlight=False)
                console.print(
                    f"[dim]{which + ': ' if which else ''}{len(tokenized.input_ids)} tokens, "
                    f"{tokenized.trained_tokens} trained (bold green)[/]"
                )
                where = f"{item.where} ({which})" if which else item.where
                pages.append((where, tokenizer, tokenized, findings if turn == len(sequences) else []))
            for finding in findings:
                colour = "red" if finding.severity == "error" else "yellow"
                console.print(f"[{colour}]{finding.severity}: {escape(finding.message)} ({finding.code})[/]")
                errors += finding.severity == "error"
            if not findings:
                console.print("[green]lint: ok[/] (ends with a stop token, template prefix-stable, not truncated)")
    if html is not None:
        html.write_text(render_html(pages), encoding="utf-8")
        console.print(f"wrote {html}")
    raise typer.Exit(1 if errors else 0)
