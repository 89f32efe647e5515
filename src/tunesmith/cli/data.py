"""`tunesmith data build|validate`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from tunesmith.cli.common import DebugOpt, JsonOpt, ProjectOpt, SetOpt, emit, load, set_debug
from tunesmith.core.progress import console

app = typer.Typer(help="Build, validate and inspect training data.", no_args_is_help=True)


@app.command("build")
def build(
    project: ProjectOpt = Path("."), set_: SetOpt = None, json_: JsonOpt = False, debug: DebugOpt = False
) -> None:
    """Golden outputs + knowledge base -> validated, deduplicated train/val/test chat data."""
    set_debug(debug)
    from tunesmith.pipeline import Context, execute

    run_dir = execute(Context.for_project(load(project, set_)), "data")
    summary = run_dir.info["summary"]
    counts = summary["examples"]
    console.print(
        f"dataset {summary['version']}: train {counts['train']}, val {counts['val']}, test {counts['test']}"
        f"; rejected {sum(summary['rejected'].values())} (see rejects.jsonl)"
    )
    emit(run_dir.root, summary, json_)


@app.command("validate")
def validate(
    files: Annotated[list[Path], typer.Argument(help="Chat JSONL files (OpenAI fine-tuning format).")],
    model: Annotated[
        str | None, typer.Option(help="Check lengths with this model's tokenizer and chat template.")
    ] = None,
    max_tokens: Annotated[int, typer.Option(help="Longest allowed example in tokens (with --model).")] = 4096,
    json_: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Check chat data before training: each problem with file, line and field. Exit 0 clean, 1 problems, 2 unusable."""
    set_debug(debug)
    from tunesmith.data.validate import validate_files

    count = None
    if model:
        from tunesmith.data.template import count_chat_tokens
        from tunesmith.models.local import load_tokenizer
        from tunesmith.models.resolve import local_path
        from tunesmith.models.spec import LocalModelRef, parse_model_ref

        ref = parse_model_ref(model)
        if not isinstance(ref, LocalModelRef):
            from tunesmith.core.errors import ModelSourceError

            raise ModelSourceError("--model needs a local model (its tokenizer renders the chat template)")
        tokenizer = load_tokenizer(local_path(ref, Path(".")))

        def count(messages: list[dict[str, object]]) -> int:
            return count_chat_tokens(tokenizer, messages)

    report = validate_files(files, count_tokens=count, max_tokens=max_tokens if model else None)
    if json_:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        for problem in report.problems:
            colour = "red" if problem.severity == "error" else "yellow"
            console.print(f"[{colour}]{problem.render()}[/]", highlight=False, markup=True, soft_wrap=True)
        verdict = "unusable" if report.unusable else ("problems found" if report.errors else "clean")
        console.print(
            f"{report.examples} examples, {len(report.errors)} errors, {len(report.warnings)} warnings: {verdict}"
        )
    raise typer.Exit(report.exit_code)
