"""Read any supported file into located items: an Example, or a problem with its line and field.

Formats are picked by content unless forced: JSON Lines files by the shape of
their first record, tables (CSV, TSV, Parquet) and saved Hugging Face datasets
by their columns or an explicit column mapping. Reading streams: memory does not
grow with the file (a saved dataset is memory-mapped by `datasets`).
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from tunesmith.core.errors import DataError
from tunesmith.data.formats.base import RecordFormat
from tunesmith.data.jsonl import iter_jsonl
from tunesmith.data.records import Example, RecordProblem

GROUP = "tunesmith.formats"
TABLE_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}
MAPPABLE = ("input", "output", "system", "id", "messages", "chosen", "rejected")


@dataclass
class Item:
    file: str
    line: int
    example: Example | None = None
    code: str | None = None  # problem code when example is None
    message: str | None = None
    field: str | None = None
    raw: Any = None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def record_formats() -> dict[str, RecordFormat]:
    """Every registered record format, built-ins and plug-ins alike, in registration order."""
    found: dict[str, RecordFormat] = {}
    for ep in entry_points(group=GROUP):
        found[ep.name] = ep.load()()
    return found


def format_names() -> list[str]:
    return [*record_formats(), "csv", "tsv", "parquet", "hf-disk"]


def _detect(value: Any, formats: dict[str, RecordFormat]) -> str | None:
    for name, fmt in formats.items():
        if fmt.detect(value):
            return name
    return None


def iter_rows(path: Path) -> Iterator[tuple[int, Any, str | None]]:
    """(line or row number, value, error) for a JSON Lines, CSV, TSV or Parquet file, by its suffix."""
    table = TABLE_SUFFIXES.get(path.suffix.lower())
    if table == "parquet":
        return _parquet_rows(path)
    if table in ("csv", "tsv"):
        return _csv_rows(path, "\t" if table == "tsv" else ",")
    return ((line.number, line.value, line.error) for line in iter_jsonl(path))


def read_items(path: Path, *, format: str | None = None, columns: dict[str, str] | None = None) -> Iterator[Item]:
    """Yield one Item per record of ``path``; never raises on bad content, only on an unusable file."""
    formats = record_formats()
    if format is not None and format not in formats and format not in ("csv", "tsv", "parquet", "hf-disk"):
        raise DataError(f"unknown format '{format}'", where=str(path), fix=f"Use one of: {', '.join(format_names())}.")
    if path.is_dir() or format == "hf-disk":
        yield from _rows(_hf_rows(path), str(path), formats, format if format in formats else None, columns)
        return
    if format in ("csv", "tsv", "parquet"):
        rows = _parquet_rows(path) if format == "parquet" else _csv_rows(path, "\t" if format == "tsv" else ",")
        yield from _rows(rows, str(path), formats, None, columns)
    else:
        yield from _rows(iter_rows(path), str(path), formats, format, columns)


def _rows(
    rows: Iterator[tuple[int, Any, str | None]],
    file: str,
    formats: dict[str, RecordFormat],
    forced: str | None,
    columns: dict[str, str] | None,
) -> Iterator[Item]:
    chosen = forced
    for number, value, error in rows:
        if error is not None:
            code = "invalid_utf8" if "UTF-8" in error else "invalid_json"
            yield Item(file, number, code=code, message=error, raw=value)
            continue
        if columns:
            try:
                value = _apply_mapping(value, columns)
            except RecordProblem as problem:
                yield Item(file, number, code=problem.code, message=problem.message, field=problem.field, raw=value)
                continue
        if not isinstance(value, dict):
            yield Item(
                file,
                number,
                code="wrong_data_type",
                message=f"expected a JSON object, got {type(value).__name__}",
                raw=value,
            )
            continue
        detected = _detect(value, formats)
        if chosen is None:
            if detected is None:
                yield Item(
                    file,
                    number,
                    code="unknown_format",
                    raw=value,
                    message=f"not a record of any known format (keys: {', '.join(sorted(value)[:8])}); "
                    f"formats: {', '.join(formats)}",
                )
                continue
            chosen = detected
        if detected is not None and detected != chosen:
            yield Item(file, number, code="wrong_format", raw=value, message=f"a {detected} record in a {chosen} file")
            continue
        try:
            example = formats[chosen].parse(value)
        except RecordProblem as problem:
            yield Item(file, number, code=problem.code, message=problem.message, field=problem.field, raw=value)
            continue
        example.meta.setdefault("source", {"file": file, "line": number, "format": chosen})
        yield Item(file, number, example=example, raw=value)


def _apply_mapping(value: Any, columns: dict[str, str]) -> Any:
    """Rename mapped columns to a chat record: input/output/system -> messages; chosen/rejected -> preference."""
    if not isinstance(value, dict):
        return value
    missing = [col for col in columns.values() if col not in value]
    if missing:
        raise RecordProblem(
            "missing_column",
            f"no column {', '.join(map(repr, missing))} in this row (columns: {', '.join(sorted(value))})",
            missing[0],
        )
    if "messages" in columns:
        messages = value[columns["messages"]]
        record: dict[str, Any] = {"messages": json.loads(messages) if isinstance(messages, str) else messages}
    else:
        messages = []
        if "system" in columns and value.get(columns["system"]):
            messages.append({"role": "system", "content": value[columns["system"]]})
        messages.append({"role": "user", "content": value.get(columns.get("input", ""), "")})
        if "chosen" in columns:
            record = {
                "input": {"messages": messages},
                "preferred_output": [{"role": "assistant", "content": value[columns["chosen"]]}],
                "non_preferred_output": [{"role": "assistant", "content": value[columns["rejected"]]}],
            }
        else:
            messages.append({"role": "assistant", "content": value.get(columns.get("output", ""), "")})
            record = {"messages": messages}
    if "id" in columns and value.get(columns["id"]) not in (None, ""):
        record["id"] = str(value[columns["id"]])
    return record


def _csv_rows(path: Path, delimiter: str) -> Iterator[tuple[int, Any, str | None]]:
    csv.field_size_limit(sys.maxsize)
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle, delimiter=delimiter)
            for record in reader:
                yield reader.line_num, dict(record), None
    except UnicodeDecodeError as exc:
        raise DataError(f"not valid UTF-8 (byte {exc.start})", where=str(path), fix="Save it as UTF-8.") from None
    except csv.Error as exc:
        raise DataError(f"malformed CSV: {exc}", where=str(path)) from None


def _parquet_rows(path: Path) -> Iterator[tuple[int, Any, str | None]]:
    from tunesmith.core.deps import require

    pq = require("pyarrow.parquet", purpose="reading Parquet")
    try:
        reader = pq.ParquetFile(str(path))
    except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
        raise DataError(f"not a readable Parquet file ({exc})", where=str(path)) from None
    row = 0
    for batch in reader.iter_batches(batch_size=2048):
        for record in batch.to_pylist():
            row += 1
            yield row, record, None


def _hf_rows(path: Path) -> Iterator[tuple[int, Any, str | None]]:
    from tunesmith.core.deps import require

    datasets = require("datasets", purpose="reading saved Hugging Face datasets")
    try:
        loaded = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        raise DataError(
            f"not a saved Hugging Face dataset ({exc})", where=str(path), fix="Save it with Dataset.save_to_disk(path)."
        ) from None
    parts = [loaded[name] for name in loaded] if isinstance(loaded, datasets.DatasetDict) else [loaded]
    row = 0
    for part in parts:
        for record in part:
            row += 1
            yield row, record, None
