"""Reading golden outputs (JSONL or CSV) into rows, with every rejected row kept and explained."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesmith.core.errors import DataError
from tunesmith.data.config import GoldenConfig
from tunesmith.data.jsonl import iter_jsonl


@dataclass
class GoldenRow:
    id: str
    input: str
    output: str
    line: int
    label: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Rejected:
    line: int
    reason: str
    raw: Any


def read_golden(cfg: GoldenConfig, base_dir: Path) -> tuple[list[GoldenRow], list[Rejected]]:
    path = base_dir / cfg.path
    if not path.is_file():
        raise DataError(
            "golden outputs file not found",
            where=str(path),
            fix="Fix data.golden.path in the project file.",
        )
    rows: list[GoldenRow] = []
    rejected: list[Rejected] = []
    records = _csv_records(path) if path.suffix.lower() in (".csv", ".tsv") else _jsonl_records(path)
    for number, value, error in records:
        if error:
            rejected.append(Rejected(number, error, value))
            continue
        row, reason = _to_row(value, number, cfg)
        if row is None:
            rejected.append(Rejected(number, reason or "invalid row", value))
        else:
            rows.append(row)
    if not rows:
        detail = (
            f" ({len(rejected)} rows rejected; first: line {rejected[0].line}: {rejected[0].reason})"
            if rejected
            else ""
        )
        raise DataError(
            f"no usable golden outputs{detail}",
            where=str(path),
            fix=f"Each row needs non-empty '{cfg.input_field}' and '{cfg.output_field}' fields.",
        )
    seen: dict[str, int] = {}
    for row in rows:
        if row.id in seen:
            raise DataError(
                f"duplicate id '{row.id}' (also on line {seen[row.id]})",
                where=f"{path}:{row.line}",
                fix="Give every row its own id, or set data.golden.id_field: null to use line numbers.",
            )
        seen[row.id] = row.line
    return rows, rejected


def _jsonl_records(path: Path) -> Any:
    for line in iter_jsonl(path):
        yield line.number, line.value, line.error


def _csv_records(path: Path) -> Any:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle, delimiter=delimiter)
            for record in reader:
                yield reader.line_num, record, None
    except UnicodeDecodeError as exc:
        raise DataError(f"not valid UTF-8 (byte {exc.start})", where=str(path), fix="Save it as UTF-8.") from None
    except csv.Error as exc:
        raise DataError(f"malformed CSV: {exc}", where=str(path)) from None


def _to_row(value: Any, number: int, cfg: GoldenConfig) -> tuple[GoldenRow | None, str | None]:
    if not isinstance(value, dict):
        return None, f"expected a JSON object, got {type(value).__name__}"
    for key in (cfg.input_field, cfg.output_field):
        if key not in value:
            return None, f"missing field '{key}'"
        if not isinstance(value[key], str):
            return None, f"field '{key}' must be a string, got {type(value[key]).__name__}"
        if not value[key].strip():
            return None, f"field '{key}' is empty"
    row_id = str(value.get(cfg.id_field, "")) if cfg.id_field else ""
    label = value.get(cfg.label_field) if cfg.label_field else None
    skip = {cfg.input_field, cfg.output_field, cfg.id_field, cfg.label_field}
    return GoldenRow(
        id=row_id or f"line-{number}",
        input=value[cfg.input_field].strip(),
        output=value[cfg.output_field].strip(),
        line=number,
        label=str(label) if label is not None else None,
        extra={k: v for k, v in value.items() if k not in skip},
    ), None
