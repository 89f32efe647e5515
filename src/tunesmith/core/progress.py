"""Progress bars for long steps, on stderr so ``--json`` output on stdout stays clean.

Components below the stages never see rich: they take a plain
``on_progress(advance)`` callback. Stages open a ``task`` and pass its callback.

With ``TUNESMITH_PROGRESS_FILE`` set (the job worker sets it for every job it
starts), the open bars are also written there as JSON, at most a few times a
second, so the web UI shows live progress of any stage without parsing logs.
"""

from __future__ import annotations

import json
import os
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

PROGRESS_ENV = "TUNESMITH_PROGRESS_FILE"
_open: list[dict[str, Any]] = []  # the bars now open, outermost first, for the progress file
_written = [0.0]


def _report(force: bool = False) -> None:
    """Write the open bars to the progress file (atomically: the reader never sees half a file)."""
    target = os.environ.get(PROGRESS_ENV)
    now = time.monotonic()
    if not target or (not force and now - _written[0] < 0.3):
        return
    _written[0] = now
    payload = {"updated": time.time(), "tasks": [dict(t) for t in _open]}
    partial = f"{target}.{os.getpid()}.tmp"
    try:
        with open(partial, "w", encoding="utf-8") as handle:
            json.dump(payload, handle)
        os.replace(partial, target)
    except OSError:  # progress is a courtesy: never fail the work over it
        pass


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
    interactive = console.is_terminal
    start = time.perf_counter()
    shared: dict[str, Any] = {"description": description, "done": 0, "total": total, "info": "", "started": time.time()}
    _open.append(shared)
    _report(force=True)
    try:
        with _bar(description, total, interactive, start, shared) as update:
            yield update
    finally:
        _open.remove(shared)
        _report(force=True)


@contextmanager
def _bar(
    description: str, total: int | None, interactive: bool, start: float, shared: dict[str, Any]
) -> Iterator[ProgressFn]:
    global _active, _depth

    def share(advance: int, info: str | None, new_total: int | None) -> None:
        shared["done"] += advance
        if info is not None:
            shared["info"] = info
        if new_total is not None:
            shared["total"] = new_total
        _report()

    if not interactive:
        done = [0]
        info_box = [""]
        nonlocal_total = [total]

        def update_plain(advance: int = 1, info: str | None = None, total: int | None = None, **_: Any) -> None:
            nonlocal_total[0] = total if total is not None else nonlocal_total[0]
            share(advance, info, total)
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
        share(advance, info, total)
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
