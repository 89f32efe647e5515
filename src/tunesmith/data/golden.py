"""Reading golden outputs (JSONL, CSV, TSV or Parquet) into rows, with every rejected row kept and explained."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesmith.core.errors import DataError
from tunesmith.data.config import GoldenConfig, SplitConfig
from tunesmith.data.formats.read import iter_rows
from tunesmith.data.split import assign_splits


@dataclass
class GoldenRow:
    id: str
    input: str
    output: str
    line: int
    label: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    raw: Any = None


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
    for number, value, error in iter_rows(path):
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
    # a repeated id is left out (and reported), never allowed to shadow the first row with that id
    seen: dict[str, int] = {}
    unique = []
    for row in rows:
        if row.id in seen:
            rejected.append(Rejected(row.line, f"duplicate id '{row.id}' (also on line {seen[row.id]})", row.raw))
        else:
            seen[row.id] = row.line
            unique.append(row)
    rows = unique
    return rows, rejected


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
        raw=value,
    ), None


def split_golden(rows: list[GoldenRow], split: SplitConfig, *, near_threshold: float | None) -> list[str]:
    """The split of each golden row: rows sharing an input or output, or with near-duplicate inputs, stay
    together; labels are stratified. The data stage and the baseline stage both call this, on the same
    exact-deduplicated rows, so they always agree on which rows are validation."""
    return assign_splits(
        [[r.input, r.output] for r in rows],
        seed=split.seed,
        val=split.val,
        test=split.test,
        labels=[r.label for r in rows] if any(r.label for r in rows) else None,
        near_texts=[r.input for r in rows],
        near_threshold=near_threshold,
    )
