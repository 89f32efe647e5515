"""What a record format is: a name, a content test, and a parser to the internal record."""

from __future__ import annotations

from typing import Any, Protocol

from tunesmith.data.records import Example


class RecordFormat(Protocol):
    name: str
    description: str

    def detect(self, value: Any) -> bool:
        """True when ``value`` is shaped like this format (used to pick a format by content)."""
        ...

    def parse(self, value: Any) -> Example:
        """The record as an Example, or RecordProblem naming the code and field."""
        ...


def require_str(value: Any, key: str, *, allow_empty: bool = False) -> str:
    from tunesmith.data.records import RecordProblem

    if key not in value:
        raise RecordProblem("missing_field", f"record has no '{key}'", key)
    text = value[key]
    if not isinstance(text, str):
        raise RecordProblem("wrong_data_type", f"'{key}' must be a string, got {type(text).__name__}", key)
    if not allow_empty and not text.strip():
        raise RecordProblem("missing_content", f"'{key}' is empty", key)
    return text
