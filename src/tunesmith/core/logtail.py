"""The last lines of a log that may be large: read from its end, not whole."""

from __future__ import annotations

import os
from pathlib import Path

TAIL_BYTES = 256 * 1024  # far more than the lines a page shows; a log of a long run is many megabytes


def last_lines(path: Path, count: int, *, max_bytes: int = TAIL_BYTES) -> list[str]:
    """The last ``count`` non-blank lines of ``path`` (fewer if the file is short; [] if it is missing), from
    at most its last ``max_bytes``: the workbench reads a running job's log every second."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            start = max(0, size - max_bytes)
            handle.seek(start)
            data = handle.read()
    except OSError:
        return []
    lines = data.decode("utf-8", errors="replace").splitlines()
    if start > 0 and lines:
        lines = lines[1:]  # the first line read is cut at its start
    return [line for line in lines if line.strip()][-count:]
