"""`tunesmith`: the command line. Commands parse input, call the Python API and print; nothing more.

Errors a user can fix print as one line and exit 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import sys

import typer

from tunesmith import __version__
from tunesmith.cli import baseline, data, gate, init, kb, label, registry, run, serve, synth, train, tune
from tunesmith.cli import eval as eval_cmd
from tunesmith.cli.common import DEBUG

app = typer.Typer(
    name="tunesmith",
    help="Turn a general LLM into a domain model that speaks your company's language: "
    "baseline -> data -> train -> eval -> gate -> serve, from one project file.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tunesmith {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """tunesmith"""


init.register(app)
baseline.register(app)
app.add_typer(data.app, name="data")
app.add_typer(kb.app, name="kb")
app.add_typer(synth.app, name="synth")
train.register(app)
tune.register(app)
eval_cmd.register(app)
gate.register(app)
label.register(app)
registry.register(app)
serve.register(app)
run.register(app)


def main(argv: list[str] | None = None) -> None:
    import click
    from rich.markup import escape

    from tunesmith.core.errors import TunesmithError
    from tunesmith.core.progress import console

    if argv is None and "--debug" in sys.argv:
        DEBUG["on"] = True
    command = typer.main.get_command(app)
    # newer typer releases ship their own copy of click: a usage error may come from either
    usage_errors: tuple[type[Exception], ...] = (click.ClickException,)
    aborts: tuple[type[BaseException], ...] = (click.exceptions.Abort,)
    try:
        from typer._click import exceptions as vendored  # type: ignore[import-not-found]

        usage_errors += (vendored.ClickException,)
    except ImportError:
        pass
    aborts += tuple(c for c in (getattr(getattr(typer, "exceptions", None), "Abort", None),) if c is not None)
    try:
        code = command.main(args=argv, prog_name="tunesmith", standalone_mode=False)
    except TunesmithError as exc:
        if DEBUG["on"]:
            console.print_exception()
        console.print(f"[bold red]error:[/] {escape(exc.render())}", soft_wrap=True, highlight=False)
        sys.exit(exc.exit_code)
    except aborts:
        console.print("aborted")
        sys.exit(130)
    except usage_errors as exc:
        exc.show()  # type: ignore[attr-defined]
        sys.exit(exc.exit_code)  # type: ignore[attr-defined]
    except KeyboardInterrupt:
        console.print("interrupted; resume with --resume")
        sys.exit(130)
    except Exception as exc:
        if DEBUG["on"]:
            raise
        console.print(
            f"[bold red]internal error:[/] {escape(f'{type(exc).__name__}: {exc}')} "
            "(run again with --debug for the traceback, and please report it)",
            soft_wrap=True,
        )
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
