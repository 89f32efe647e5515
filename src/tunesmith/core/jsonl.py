"""JSON Lines that tunesmith writes itself (run folders, caches); user files go through data.formats,
which reads any bytes defensively and reports problems by line."""

from __future__ import annotations

import json
import math
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
