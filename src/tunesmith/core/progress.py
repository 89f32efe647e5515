"""Progress bars for long steps, on stderr so ``--json`` output on stdout stays clean.

Components below the stages never see rich: they take a plain
``on_progress(advance)`` callback. Stages open a ``task`` and pass its callback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

ProgressFn = Callable[..., None]

console = Console(stderr=True, highlight=False)

_active: Progress | None = None
_depth = 0


def _make_progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


@contextmanager
def task(description: str, total: int | None) -> Iterator[ProgressFn]:
    """Show one bar; yields ``update(advance=1, info=None)``.

    Nested tasks share one live display. When stderr is not a terminal the bar
    is replaced by a single line at the end with the elapsed time, so logs of
    CI runs stay readable.
    """
    global _active, _depth
    interactive = console.is_terminal
    start = time.perf_counter()
    if not interactive:
        done = [0]
        info_box = [""]
        nonlocal_total = [total]

        def update_plain(advance: int = 1, info: str | None = None, total: int | None = None, **_: Any) -> None:
            nonlocal_total[0] = total if total is not None else nonlocal_total[0]
            done[0] += advance
            if info is not None:
                info_box[0] = info

        yield update_plain
        suffix = f" {info_box[0]}" if info_box[0] else ""
        count = f"{done[0]}{'/' + str(nonlocal_total[0]) if nonlocal_total[0] else ''} " if done[0] else ""
        console.print(f"{description}: {count}in {time.perf_counter() - start:.1f}s{suffix}")
        return
    if _active is None:
        _active = _make_progress()
        _active.start()
    _depth += 1
    progress = _active
    task_id = progress.add_task(description, total=total, info="")

    def update(advance: int = 1, info: str | None = None, total: int | None = None, **_: Any) -> None:
        fields: dict[str, Any] = {"advance": advance}
        if info is not None:
            fields["info"] = info
        if total is not None:
            fields["total"] = total
        progress.update(task_id, **fields)

    try:
        yield update
    finally:
        # a finished step shows a full bar even when its total was an estimate
        finished = next(t for t in progress.tasks if t.id == task_id)
        progress.update(task_id, total=finished.completed)
        _depth -= 1
        if _depth == 0:
            progress.stop()
            _active = None


def note(message: str) -> None:
    """A line of explanation (e.g. why a default was chosen), on stderr."""
    console.print(message)
