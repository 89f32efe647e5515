"""`tunesmith init DIR`: a commented starter project."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tunesmith.core.progress import console


def register(app: typer.Typer) -> None:
    @app.command("init")
    def init(
        directory: Annotated[Path, typer.Argument(help="Folder to create the project in.")] = Path("."),
        name: Annotated[str | None, typer.Option(help="Project name (default: the folder's name).")] = None,
        force: Annotated[bool, typer.Option(help="Overwrite an existing tunesmith.yaml.")] = False,
    ) -> None:
        """Write a commented starter project: tunesmith.yaml, a knowledge-base folder and a golden-outputs file."""
        from tunesmith.core.errors import ConfigError
        from tunesmith.starter import write_starter

        target = directory / "tunesmith.yaml"
        if target.exists() and not force:
            raise ConfigError("a project file already exists", where=str(target), fix="Pass --force to overwrite it.")
        written = write_starter(directory, name or directory.resolve().name)
        for path in written:
            console.print(f"wrote {path}")
        console.print(
            f"Next: add documents to {directory / 'kb'}, golden outputs to {directory / 'data/golden.jsonl'}, "
            f"then `tunesmith run -p {directory}`."
        )
