"""JSON Lines that tunesmith writes itself (run folders, caches); user files go through data.formats,
which reads any bytes defensively and reports problems by line."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tunesmith.core.atomic import atomic_write_text


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows as JSON Lines atomically; returns the number of rows."""
    lines = [json.dumps(row, ensure_ascii=False, default=str) for row in rows]
    atomic_write_text(path, "\n".join(lines) + ("\n" if lines else ""))
    return len(lines)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every row of a file tunesmith wrote (blank lines skipped)."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def finite(obj: Any) -> Any:
    """``obj`` with NaN and infinities as None: run files keep NaN for "not applicable" (Python reads it back),
    but JSON for a browser or any strict parser has no NaN."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    return obj


def cut_torn_tail(fd: int, chunk: int = 1 << 16) -> None:
    """Cut what follows the file's last newline. Call it where no other writer can be mid-line (under the
    file's lock, or in the one process that writes it): what follows is then what a writer killed mid-write
    left, and appending after it would glue it to the next line, losing both."""
    size = os.fstat(fd).st_size
    end = size
    while end > 0:
        start = max(0, end - chunk)
        block = os.pread(fd, end - start, start)
        if end == size and block.endswith(b"\n"):
            return
        newline = block.rfind(b"\n")
        if newline >= 0:
            os.ftruncate(fd, start + newline + 1)
            return
        end = start
    if size:
        os.ftruncate(fd, 0)
