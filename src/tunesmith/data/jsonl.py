"""Reading user JSON Lines defensively: any bytes in, located problems out, never a traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Line:
    number: int  # 1-based
    value: Any = None
    error: str | None = None  # why this line is not a JSON value


def iter_jsonl(path: Path) -> Iterator[Line]:
    """Stream ``path`` line by line (constant memory), decoding each line on its own.

    A UTF-8 byte-order mark and CRLF endings are accepted; blank lines are
    skipped; a bad line is reported and the rest of the file still read.
    """
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            raw = raw.rstrip(b"\r\n")
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield Line(number, error=f"invalid UTF-8 at byte {exc.start}")
                continue
            try:
                yield Line(number, json.loads(text))
            except json.JSONDecodeError as exc:
                yield Line(number, error=f"not valid JSON ({exc.msg} at column {exc.colno})")
            except RecursionError:
                yield Line(number, error="not valid JSON (nested too deeply)")
